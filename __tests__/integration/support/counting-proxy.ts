/**
 * A loopback proxy in front of a registry that counts what reaches it (completed blob uploads, mounts, manifest
 * PUTs) and can die in the middle of an upload, as a destination that goes down mid-push.
 */
import { proxyTo, startLoopbackServer, type LoopbackServer } from '../../support/redirect-server.ts';

export interface CountingProxy extends LoopbackServer {
  /** Digests whose upload the registry completed (`PUT …?digest=` answered 201), in order. */
  uploads: string[];
  /** Digests mounted from another repository (`POST …?mount=` answered 201). */
  mounts: string[];
  /** `repository@reference` of every manifest the registry stored. */
  manifests: string[];
  /**
   * After `count` more completed uploads, the next upload to start is cut mid-body and every request is refused until
   * heal() (uploads under way by then go on).
   */
  dieAfterUploads(count: number): void;
  heal(): void;
}

export async function startCountingProxy(registryUrl: string): Promise<CountingProxy> {
  const uploads: string[] = [];
  const mounts: string[] = [];
  const manifests: string[] = [];
  let uploadsLeft: number | undefined;
  let dead = false;
  const server = await startLoopbackServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const digest = url.searchParams.get('digest');
    const isUpload = req.method === 'PUT' && url.pathname.includes('/blobs/uploads/') && digest !== null;
    if (isUpload && uploadsLeft !== undefined && uploadsLeft <= 0) {
      dead = true;
      uploadsLeft = undefined;
      req.once('data', () => req.socket.destroy());
      return;
    }
    if (dead) {
      req.socket.destroy();
      return;
    }
    await proxyTo(registryUrl, req, res);
    if (res.statusCode !== 201) return;
    if (isUpload) {
      uploads.push(digest);
      if (uploadsLeft !== undefined) uploadsLeft--;
    }
    const mount = url.searchParams.get('mount');
    if (req.method === 'POST' && mount !== null) mounts.push(mount);
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'PUT' && manifest) manifests.push(`${manifest[1]}@${manifest[2]}`);
  });
  return {
    ...server,
    uploads,
    mounts,
    manifests,
    dieAfterUploads(count: number) {
      uploadsLeft = count;
    },
    heal() {
      dead = false;
    },
  };
}
