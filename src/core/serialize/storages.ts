import { OciLayout } from '../oci/layout.ts';
import type { Reference } from '../oci/reference.ts';
import { RegistryClient } from '../registry/client.ts';
import { defaultKeychain, type BasicCredentials } from '../registry/keychain.ts';
import type { RetryOptions } from '../registry/retry.ts';
import type { Timeouts } from '../registry/transport.ts';
import type { ReadOnlyStorage, Storages } from '../oci/storage.ts';

/** Timeouts default to the RegistryClient's (DEFAULT_TIMEOUTS: 30 s to connect, 60 s for headers, 60 s of body silence). */
export interface StorageOptions extends Partial<Timeouts> {
  /** Hosts that may be reached over plain HTTP besides loopback ones. */
  insecureRegistries: string[];
  /** Credentials given explicitly (the Action's inputs), ahead of the Docker config. */
  credentials?: Record<string, BasicCredentials>;
  /** Tries and backoff for registry requests and resumed downloads; `onRetry` hears each (progressReporter's `retrying`). */
  retry?: RetryOptions;
}

/** Registries through one shared client (a connection pool per host); layouts opened once per path. */
export class RegistryAndLayoutStorages implements Storages {
  private readonly registries: RegistryClient;
  private readonly layouts = new Map<string, OciLayout>();

  constructor(options: StorageOptions) {
    const { insecureRegistries, credentials, retry, connectTimeoutMs, headersTimeoutMs, bodyTimeoutMs } = options;
    this.registries = new RegistryClient({
      keychain: defaultKeychain(credentials ?? {}),
      insecureHosts: insecureRegistries,
      retry,
      connectTimeoutMs,
      headersTimeoutMs,
      bodyTimeoutMs,
    });
  }

  open(reference: Reference): ReadOnlyStorage {
    if (reference.kind === 'registry') return this.registries.repository(reference);
    let layout = this.layouts.get(reference.path);
    if (!layout) {
      layout = new OciLayout(reference.path);
      this.layouts.set(reference.path, layout);
    }
    return layout;
  }

  async close(): Promise<void> {
    await this.registries.close();
  }
}
