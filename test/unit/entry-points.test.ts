import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// `npm start`, the Docker image and `npm run bench` start the server the same way: with V8's
// memory reducer off, so a burst after an idle spell does not pay for regrowing a shrunk heap
// (docs/performance.md). The bench's figures only hold for servers started like this.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

describe('how the server is started', () => {
  it('npm start passes --no-memory-reducer to node', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node --no-memory-reducer bin/portcullis.js serve');
  });

  it('the Docker image passes it too', () => {
    expect(read('Dockerfile')).toMatch(
      /^ENTRYPOINT \["node", "--no-memory-reducer", "bin\/portcullis\.js"\]$/m,
    );
  });

  it('both benches start portcullis the same way', () => {
    expect(read('bench/run.mjs')).toMatch(/'--no-memory-reducer',\s*\.\.\.PROFILE_FLAGS,\s*bin,/);
    expect(read('bench/proxy.mjs')).toMatch(/'--no-memory-reducer',\s*bin,\s*'serve',/);
  });

  it('this Node accepts the flag', () => {
    const result = spawnSync(process.execPath, ['--no-memory-reducer', '-e', '0'], {
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
