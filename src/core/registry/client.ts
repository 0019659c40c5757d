import { Agent } from '../undici.ts';
import type { RegistryReference } from '../oci/reference.ts';
import type { Repositories } from '../oci/storage.ts';
import type { Keychain } from './keychain.ts';
import { RegistryRepository } from './repository.ts';
import { retryPolicy, type RetryOptions, type RetryPolicy } from './retry.ts';
import { Defaults } from '../defaults.ts';
import { dispatcherOptions, Transport, type Timeouts } from './transport.ts';

export interface RegistryClientOptions extends Partial<Timeouts> {
  keychain: Keychain;
  /** `--insecure-registry HOST`: spoken to over plain HTTP (loopback hosts always are). */
  insecureHosts?: string[];
  userAgent?: string;
  /** Requests that fail before their answer, and blob downloads that break mid-body (resumed with Range). */
  retry?: RetryOptions;
}

const DEFAULT_USER_AGENT = 'batch-serialize';

/** Defaults.connectTimeout, responseTimeout and idleTimeout (core/defaults.ts, where they are explained). */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = {
  connectTimeoutMs: Defaults.connectTimeout * 1000,
  headersTimeoutMs: Defaults.responseTimeout * 1000,
  bodyTimeoutMs: Defaults.idleTimeout * 1000,
};

/** Entry point to registries: one transport (connection pool, auth state) per registry, shared by its repositories. */
export class RegistryClient implements Repositories {
  private readonly keychain: Keychain;
  private readonly insecureHosts: readonly string[];
  private readonly userAgent: string;
  private readonly retry: RetryPolicy;
  private readonly timeouts: Timeouts;
  private readonly foreign: Agent;
  private readonly transports = new Map<string, Transport>();

  constructor(options: RegistryClientOptions) {
    this.keychain = options.keychain;
    this.insecureHosts = options.insecureHosts ?? [];
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.retry = retryPolicy(options.retry);
    this.timeouts = {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_TIMEOUTS.connectTimeoutMs,
      headersTimeoutMs: options.headersTimeoutMs ?? DEFAULT_TIMEOUTS.headersTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_TIMEOUTS.bodyTimeoutMs,
    };
    this.foreign = new Agent(dispatcherOptions(this.timeouts));
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
        timeouts: this.timeouts,
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
