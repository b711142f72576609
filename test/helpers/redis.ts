import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';

export interface RedisServer {
  port: number;
  url: string;
  /** SIGKILL the server (a crash, not a shutdown). */
  kill(): Promise<void>;
  /** Start it again on the same port (and, for a Cluster node, the same nodes.conf). */
  restart(): Promise<void>;
  /** SIGSTOP: the process hangs with its connections open, as a stuck host does. */
  freeze(): void;
  /** SIGCONT after `freeze`. */
  thaw(): void;
  stop(): Promise<void>;
}

function cli(port: number, ...args: string[]): string {
  const result = spawnSync('redis-cli', ['-p', String(port), ...args], {
    encoding: 'utf8',
    timeout: 2000,
  });
  return result.stdout.trim();
}

function ping(port: number): boolean {
  return cli(port, 'ping') === 'PONG';
}

interface StartOptions {
  /** Extra redis-server arguments (`--replicaof`, `--cluster-enabled`, …). */
  args?: string[];
  /** A config file to start from (Sentinel: redis-server FILE --sentinel). */
  config?: (dir: string, port: number) => string;
  sentinel?: boolean;
}

/** A real redis-server on a free port, no persistence. Fails loudly when the binary is missing. */
export async function startRedis(options: StartOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
  let child: ChildProcess | null = null;
  const launch = async () => {
    const file = options.config?.(dir, port);
    const args = [
      ...(file ? [file] : []),
      ...(options.sentinel ? ['--sentinel'] : []),
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      ...(options.sentinel ? [] : ['--save', '', '--appendonly', 'no']),
      '--dir',
      dir,
      ...(options.args ?? []),
    ];
    child = spawn('redis-server', args, { stdio: 'ignore' });
    child.on('error', (error) => {
      throw new Error(
        `cannot start redis-server (install it: apt-get install redis-server): ${error.message}`,
      );
    });
    await waitFor(() => ping(port), 10_000, 'redis-server');
  };
  const signal = (name: NodeJS.Signals) => {
    const current = child as ChildProcess | null;
    if (current && current.exitCode === null && current.signalCode === null) current.kill(name);
  };
  const kill = async () => {
    const current = child as ChildProcess | null;
    // A child killed by a signal keeps `exitCode` null: check both, or a second kill (stop after
    // kill) would wait for an 'exit' that has already happened.
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((r) => current.once('exit', r));
    current.kill('SIGCONT');
    current.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    kill,
    restart: launch,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SentinelSet {
  name: string;
  primary: RedisServer;
  replica: RedisServer;
  sentinels: RedisServer[];
  /** `host:port` of each sentinel, as `store.sentinel.nodes` takes them. */
  nodes: string[];
  /** The port of the node the sentinels call primary now. */
  primaryPort(): number;
  stop(): Promise<void>;
}

/**
 * A primary, one replica and three sentinels (quorum 2) that notice a dead primary after 500 ms,
 * so a failover completes within a few seconds.
 */
export async function startSentinelSet(name = 'portcullis'): Promise<SentinelSet> {
  const started: RedisServer[] = [];
  try {
    const primary = await startRedis();
    started.push(primary);
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    started.push(replica);
    await waitFor(
      () => /master_link_status:up/.test(cli(replica.port, 'info', 'replication')),
      10_000,
      'replica in sync',
    );
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await startRedis({
        sentinel: true,
        config: (dir, port) => {
          const file = join(dir, 'sentinel.conf');
          writeFileSync(
            file,
            [
              `port ${port}`,
              `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
              `sentinel down-after-milliseconds ${name} 500`,
              `sentinel failover-timeout ${name} 2000`,
              `sentinel parallel-syncs ${name} 1`,
              '',
            ].join('\n'),
          );
          return file;
        },
      });
      started.push(sentinel);
      sentinels.push(sentinel);
    }
    const primaryPort = () =>
      Number(
        cli(sentinels[0]?.port ?? 0, 'sentinel', 'get-master-addr-by-name', name).split('\n')[1],
      );
    // Each sentinel must know the others (hello messages) before a failover can win a quorum.
    await waitFor(
      () =>
        sentinels.every((s) =>
          /num-other-sentinels\s+2/.test(
            cli(s.port, 'sentinel', 'master', name).replace(/\n/g, ' '),
          ),
        ),
      15_000,
      'sentinels to find each other',
    );
    return {
      name,
      primary,
      replica,
      sentinels,
      nodes: sentinels.map((s) => `127.0.0.1:${s.port}`),
      primaryPort,
      async stop() {
        await Promise.all(started.map((s) => s.stop()));
      },
    };
  } catch (error) {
    await Promise.all(started.map((s) => s.stop()));
    throw error;
  }
}

export interface RedisCluster {
  nodes: RedisServer[];
  /** `host:port` of each primary, as `store.cluster` takes them. */
  addresses: string[];
  /** Whether every node reports cluster_state:ok. */
  healthy(): boolean;
  stop(): Promise<void>;
}

/**
 * Three primaries, no replicas, that mark a silent node failed after 1 s. A node restarted with
 * `restart()` keeps its nodes.conf (its identity and slots) and loses its data: no persistence.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startRedis({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '1000',
          ],
        }),
      );
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    const created = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create: ${created.stdout}`);
    const healthy = () =>
      nodes.every((n) => /cluster_state:ok/.test(cli(n.port, 'cluster', 'info')));
    await waitFor(healthy, 15_000, 'cluster_state:ok');
    return {
      nodes,
      addresses,
      healthy,
      async stop() {
        await Promise.all(nodes.map((n) => n.stop()));
      },
    };
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
}
