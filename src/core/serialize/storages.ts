import { OciLayout } from '../oci/layout.ts';
import type { Reference } from '../oci/reference.ts';
import { RegistryClient } from '../registry/client.ts';
import { defaultKeychain, type BasicCredentials } from '../registry/keychain.ts';
import type { ReadOnlyStorage, Storages } from '../oci/storage.ts';

export interface StorageOptions {
  /** Hosts that may be reached over plain HTTP besides loopback ones. */
  insecureRegistries: string[];
  /** Credentials given explicitly (the Action's inputs), ahead of the Docker config. */
  credentials?: Record<string, BasicCredentials>;
}

/** Registries through one shared client (a connection pool per host); layouts opened once per path. */
export class RegistryAndLayoutStorages implements Storages {
  private readonly registries: RegistryClient;
  private readonly layouts = new Map<string, OciLayout>();

  constructor(options: StorageOptions) {
    this.registries = new RegistryClient({
      keychain: defaultKeychain(options.credentials ?? {}),
      insecureHosts: options.insecureRegistries,
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
