/** Store health, for readiness and for dropping local caches when the link to shared state breaks. */
export interface StoreHealth {
  ping(): Promise<void>;
  /**
   * Whether every node the store needs answers now (each Cluster primary, the primary a
   * Sentinel names), for readiness; never rejects. `ping` asks only one node.
   */
  ready(): Promise<boolean>;
  /** Called with false when the store becomes unreachable and true when it is back. */
  onAvailability(listener: (available: boolean) => void): void;
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
}
