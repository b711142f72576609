import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { waitFor } from './ports.js';

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface DaemonSpec {
  /** The binary, also used in messages (`nginx`, `caddy`). */
  command: string;
  args: string[];
  /** The Debian package that provides it, for the "install it" message. */
  aptPackage: string;
  /** The temp dir the daemon runs in; removed on stop. */
  dir: string;
  ports: number[];
  /** nginx stops gracefully on SIGQUIT, Caddy on SIGTERM. */
  stopSignal: NodeJS.Signals;
  env?: SpawnOptions['env'];
  /** More detail for a failed start (e.g. nginx's error log). */
  describe?: () => string;
}

export interface Daemon {
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs a real server binary in the foreground until every port accepts connections. A missing
 * binary, a refused config or an early exit rejects: the test fails, it is never skipped.
 */
export async function startDaemon(spec: DaemonSpec): Promise<Daemon> {
  let output = '';
  const child: ChildProcess = spawn(spec.command, spec.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: spec.env ?? process.env,
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let failure: Error | null = null;
  child.once('error', (error) => {
    failure = new Error(
      `cannot start ${spec.command} (install it: apt-get install ${spec.aptPackage}): ${error.message}`,
    );
  });
  child.once('exit', (code) => {
    failure ??= new Error(
      `${spec.command} exited with ${code}:\n${output}\n${spec.describe?.() ?? ''}`,
    );
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(spec.stopSignal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(spec.dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        // An early exit ends the wait at once; it is reported below.
        if (failure) return true;
        for (const port of spec.ports) if (!(await accepts(port))) return false;
        return true;
      },
      15_000,
      `${spec.command} to listen`,
    );
    if (failure) throw failure;
  } catch (error) {
    await stop();
    throw error;
  }
  return { output: () => output, stop };
}
