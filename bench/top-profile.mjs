// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the busy share of self time per
// function (idle excluded), then inclusive time of the portcullis functions.
// Usage: node bench/top-profile.mjs FILE.cpuprofile [N]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const limit = Number(process.argv[3] ?? 30);
if (!file) {
  process.stderr.write('usage: node bench/top-profile.mjs FILE.cpuprofile [N]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '');
  return `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
};
const self = new Map();
const inclusive = new Map();
let busy = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]);
  const dt = profile.timeDeltas[i] ?? 0;
  if (node.callFrame.functionName === '(idle)') continue;
  busy += dt;
  const key = label(node);
  self.set(key, (self.get(key) ?? 0) + dt);
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const k = label(byId.get(id));
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
  }
}
const show = (title, map, filter) => {
  process.stdout.write(`${title}\n`);
  const rows = [...map.entries()]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit);
  for (const [key, us] of rows) {
    process.stdout.write(`${((us / busy) * 100).toFixed(1).padStart(5)} %  ${key}\n`);
  }
};
process.stdout.write(`busy ${(busy / 1e6).toFixed(2)} s\n`);
show('self time (share of busy time)', self, () => true);
show('\ninclusive time, portcullis code', inclusive, (k) => k.includes(' dist/'));
