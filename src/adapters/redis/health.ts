import { Cluster, type Redis } from 'ioredis';
import type { StoreHealth } from '../../ports/store-health.js';
import { type Client, watchConnection } from './client.js';

const CLUSTER_SLOTS = 16_384;

/**
 * Every slot has a primary, each of those answers PING, and the cluster says it is whole. The
 * client drops a dead node's connection from its pool while the slot map still names it, so
 * pinging the pool alone would miss exactly the node that is down; a node back from a restart
 * answers PING before the others have taken it back, which `cluster_state` reports.
 */
async function clusterReady(cluster: Cluster): Promise<boolean> {
  const owners = new Set<string>();
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const owner = cluster.slots[slot]?.[0];
    if (owner === undefined) return false;
    owners.add(owner);
  }
  const pool = new Map(
    cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]),
  );
  const primaries = [...owners].map((key) => pool.get(key));
  if (primaries.some((node) => node === undefined)) return false;
  const [info] = await Promise.all([
    cluster.cluster('INFO'),
    ...primaries.map((node) => (node as Redis).ping()),
  ]);
  return /^cluster_state:ok\r?$/m.test(String(info));
}

/**
 * Availability of the two connections the store needs: the command client, and the subscriber
 * that hears revocations. The store counts as available only while both serve.
 */
export class RedisHealth implements StoreHealth {
  readonly kind = 'redis' as const;
  private readonly availabilityListeners: ((available: boolean) => void)[] = [];
  private available = false;
  private clientUp = false;
  private subscribed = false;
  private subscribeEpoch = 0;
  private closing = false;

  constructor(
    private readonly client: Client,
    private readonly subscriber: Client,
    private readonly channel: string,
  ) {
    watchConnection(this.client, (up) => {
      this.clientUp = up;
      this.update();
    });
    watchConnection(this.subscriber, (up) => {
      // Revocations may be missed while the subscriber is away: caches must be dropped, and
      // the store counts as back only once SUBSCRIBE has been confirmed again.
      this.subscribeEpoch += 1;
      this.subscribed = false;
      this.update();
      if (up) this.subscribe(this.subscribeEpoch);
    });
  }

  private subscribe(epoch: number): void {
    this.subscriber.subscribe(this.channel).then(
      () => {
        if (epoch !== this.subscribeEpoch) return;
        this.subscribed = true;
        this.update();
      },
      // The connection went away again; the next 'ready' retries.
      () => {},
    );
  }

  private update(): void {
    const now = !this.closing && this.clientUp && this.subscribed;
    if (now === this.available) return;
    this.available = now;
    for (const listener of this.availabilityListeners) listener(now);
  }

  /** Resolves once both connections are up, or rejects after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.available) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('Redis did not become ready in time')),
        timeoutMs,
      );
      this.availabilityListeners.push((up) => {
        if (up) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async ready(): Promise<boolean> {
    if (!this.available) return false;
    try {
      if (this.client instanceof Cluster) return await clusterReady(this.client);
      // A Sentinel-discovered node that a failover has just demoted still answers PING.
      const [role] = (await this.client.role()) as [string, ...unknown[]];
      return role === 'master';
    } catch {
      return false;
    }
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.availabilityListeners.push(listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.update();
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
