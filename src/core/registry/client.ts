import { Agent } from 'undici';
import type { RegistryReference } from '../oci/reference.ts';
import type { Repositories } from '../oci/storage.ts';
import type { Keychain } from './keychain.ts';
import { RegistryRepository } from './repository.ts';
import { retryPolicy, type RetryOptions, type RetryPolicy } from './retry.ts';
import { Transport } from './transport.ts';

export interface RegistryClientOptions {
  keychain: Keychain;
  /** `--insecure-registry HOST`: spoken to over plain HTTP (loopback hosts always are). */
  insecureHosts?: string[];
  userAgent?: string;
  retry?: RetryOptions;
}

const DEFAULT_USER_AGENT = 'batch-serialize';

/** Entry point to registries: one transport (connection pool, auth state) per registry, shared by its repositories. */
export class RegistryClient implements Repositories {
  private readonly keychain: Keychain;
  private readonly insecureHosts: readonly string[];
  private readonly userAgent: string;
  private readonly retry: RetryPolicy;
  private readonly foreign = new Agent();
  private readonly transports = new Map<string, Transport>();

  constructor(options: RegistryClientOptions) {
    this.keychain = options.keychain;
    this.insecureHosts = options.insecureHosts ?? [];
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.retry = retryPolicy(options.retry);
  }

  repository(reference: Pick<RegistryReference, 'registry' | 'repository'>): RegistryRepository {
    let transport = this.transports.get(reference.registry);
    if (transport === undefined) {
      transport = new Transport({
        registry: reference.registry,
        keychain: this.keychain,
        insecureHosts: this.insecureHosts,
        userAgent: this.userAgent,
        retry: this.retry,
        foreign: this.foreign,
      });
      this.transports.set(reference.registry, transport);
    }
    return new RegistryRepository(transport, reference);
  }

  async close(): Promise<void> {
    const transports = [...this.transports.values()];
    this.transports.clear();
    await Promise.all([...transports.map((t) => t.close()), this.foreign.close()]);
  }
}
