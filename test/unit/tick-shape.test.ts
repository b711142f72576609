import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// The object from src/tick-shape.ts only helps if it walks exactly the hidden-class path of
// Node's own nextTick entries. V8 can say so (%HaveSameMap), in a child started with
// --allow-natives-syntax; the compiled module is used, as the server uses it (npm test builds).
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MODULE = join(ROOT, 'dist', 'tick-shape.js');

/**
 * Churns ticks, lets the queue drain, runs full GCs while idle (what V8's memory reducer does to
 * an idle server), then reports: whether a fresh nextTick entry has the kept object's map, and
 * how many of nextTick's literal feedback slots went megamorphic (the slow path).
 */
function scenario(keep: boolean): string {
  return `
import { createHook } from 'node:async_hooks';
const { keepNextTickShape } = await import(${JSON.stringify(pathToFileURL(MODULE).href)});
const kept = ${keep ? 'keepNextTickShape()' : 'null'};
let n = 0;
const tick = () => { n++; };
// Each phase runs from a timer, as an idle server's GC does: no tick-processing frame on the
// stack that could still hold the last entry.
const later = (fn, ms = 1) => new Promise((resolve) => setTimeout(() => resolve(fn()), ms));
const churn = async () => {
  for (let round = 0; round < 50; round++)
    await later(() => { for (let i = 0; i < 2000; i++) process.nextTick(tick, i); });
};
await churn();
// V8 retains maps through a couple of GCs: three idle full GCs, a lone tick between them.
for (let i = 0; i < 3; i++) {
  await later(() => globalThis.gc(), 5);
  await later(() => process.nextTick(tick));
}
await churn();
let entry = null;
const hook = createHook({ init(_id, type, _trigger, resource) { if (type === 'TickObject') entry = resource; } }).enable();
process.nextTick(() => {});
hook.disable();
const same = kept !== null && entry !== null && %HaveSameMap(kept, entry);
// %DebugPrint writes the feedback vector to stdout; count the slow literal slots in it.
const write = process.stdout.write.bind(process.stdout);
%DebugPrint(process.nextTick);
await new Promise((resolve) => setImmediate(resolve));
write('\\n' + JSON.stringify({ same, kept: kept !== null }) + '\\n');
`;
}

interface Outcome {
  same: boolean;
  kept: boolean;
  /** nextTick literal slots that went megamorphic (each costs a runtime call per tick). */
  slowSlots: number;
}

function run(script: string): Outcome {
  // A file, not `-e`: evaluated from `-e`, the scenario sometimes keeps an entry alive.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tick-shape-'));
  const file = join(dir, 'scenario.mjs');
  writeFileSync(file, script);
  try {
    const result = spawnSync(
      process.execPath,
      ['--allow-natives-syntax', '--expose-gc', '--retain-maps-for-n-gc=0', file],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (result.status !== 0) throw new Error(`child failed (${result.status}):\n${result.stderr}`);
    const lines = result.stdout.trim().split('\n');
    const summary = JSON.parse(lines.pop() ?? '{}') as { same: boolean; kept: boolean };
    const slowSlots = lines.filter((l) =>
      /slot #\d+ DefineKeyedOwnPropertyInLiteral MEGAMORPHIC/.test(l),
    ).length;
    return { ...summary, slowSlots };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('keepNextTickShape', () => {
  it('is built from the compiled module', () => {
    expect(existsSync(MODULE), `${MODULE} missing: npm run build`).toBe(true);
  });

  it("walks the same hidden classes as this Node's nextTick entries", () => {
    const result = run(scenario(true));
    expect(result.kept).toBe(true);
    expect(result.same).toBe(true);
  });

  // Without the kept object this scenario leaves 3 (Node 20) or 4 (Node 24) of those slots
  // megamorphic when run on its own; inside a loaded test run it reproduces only sometimes, so
  // it is shown in docs/performance.md rather than asserted here.
  it("keeps nextTick's literal fast through an idle full GC", () => {
    expect(run(scenario(true)).slowSlots).toBe(0);
  });
});
