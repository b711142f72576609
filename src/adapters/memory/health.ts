import type { StoreHealth } from '../../ports/store-health.js';

/** In-process state is always there: nothing to wait for, lose or close. */
export class MemoryHealth implements StoreHealth {
  readonly kind = 'memory' as const;

  async ping(): Promise<void> {}

  async ready(): Promise<boolean> {
    return true;
  }

  onAvailability(_listener: (available: boolean) => void): void {}

  async close(): Promise<void> {}
}
