import { createHash } from 'node:crypto';

/** SHA-256 of a file's bytes as they stream past. */
export class FileHasher {
  private readonly hash = createHash('sha256');

  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }

  async digest(): Promise<string> {
    return `sha256:${this.hash.digest('hex')}`;
  }

  close(): void {}
}
