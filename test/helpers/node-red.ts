import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';

export interface NodeRed {
  url: string;
  port: number;
  /** Its console output so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

/**
 * A real, unmodified Node-RED (the npm package) as a child process on a free loopback port,
 * with a throw-away userDir and a flow that answers `GET /hello` (an http-in node). No network:
 * telemetry, update checks, tours and palette installs are off. A missing package fails loudly.
 */
export async function startNodeRed(): Promise<NodeRed> {
  const red = require.resolve('node-red/red.js');
  const port = await freePort();
  const userDir = mkdtempSync(join(tmpdir(), 'portcullis-node-red-'));
  const flows = [
    { id: 'tab1', type: 'tab', label: 'Flow 1' },
    { id: 'in1', type: 'http in', z: 'tab1', url: '/hello', method: 'get', wires: [['fn1']] },
    {
      id: 'fn1',
      type: 'function',
      z: 'tab1',
      func: "msg.payload = { hello: msg.req.headers['remote-email'] || null }; return msg;",
      outputs: 1,
      wires: [['out1']],
    },
    { id: 'out1', type: 'http response', z: 'tab1', statusCode: '', headers: {}, wires: [] },
  ];
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flows));
  const settings = join(userDir, 'settings.js');
  writeFileSync(
    settings,
    `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${port},
  userDir: ${JSON.stringify(userDir)},
  flowFile: 'flows.json',
  credentialSecret: false,
  logging: { console: { level: 'info', metrics: false, audit: false } },
  telemetry: { enabled: false, updateNotification: false },
  diagnostics: { enabled: false, ui: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpdate: false } },
  editorTheme: { tours: false, projects: { enabled: false }, palette: { catalogues: [] } },
};
`,
  );
  let output = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [red, '--settings', settings, '--userDir', userDir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_RED_HOME: userDir },
    },
  );
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`node-red exited:\n${output}`);
        return (await fetch(`${url}/hello`)).status === 200;
      },
      60_000,
      'node-red to serve its flow',
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  return {
    url,
    port,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}
