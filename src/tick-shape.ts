import { AsyncResource, createHook, type HookCallbacks } from 'node:async_hooks';

/**
 * Keeps `process.nextTick` on V8's fast path for the life of the process.
 *
 * Node's `nextTick` builds its queue entry with an object literal whose first keys are computed
 * (`{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback, args }`). Optimised code
 * defines those keys quickly only while the literal's feedback is monomorphic, and that
 * feedback holds the intermediate hidden classes ("maps") weakly. When a full GC runs while no
 * tick is queued (an idle server: V8's memory reducer does exactly that), nothing keeps those
 * maps alive, the weak references are cleared, and V8 (11 in Node 20, 13 in Node 24) turns the
 * cleared slots megamorphic for good: from then on every `nextTick` — several per HTTP request
 * inside node:http and streams — defines its keys through the runtime. Measured here: 11 % of
 * the busy auth-check process's CPU, ~20 % of its throughput, after one idle pause.
 *
 * One live object with the entries' hidden class keeps those maps alive, so the slots stay
 * monomorphic. Where `createHook` can leave promises alone (`trackPromises: false`, Node 24),
 * that object is a real entry caught by a hook enabled for one tick; otherwise (Node 20) it is
 * built with Node's own key symbols, read off an AsyncResource. (An ordinary hook would install
 * V8 promise hooks, which slow every `await` for the rest of the process: measured 40 %.)
 * test/unit/tick-shape.test.ts checks that the object matches on the Node versions we run; on
 * one that builds its entries differently it is merely unused.
 */
let kept: object | null = null;

function noop(): void {}

function symbolNamed(owner: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(owner).find((s) => s.description === description);
}

/** createHook's `trackPromises` option (Node 24) is not in the Node 20 typings. */
type HookOptions = HookCallbacks & { trackPromises?: unknown };

/** Whether this Node's createHook knows `trackPromises` (it validates the option if so). */
function hooksCanSkipPromises(): boolean {
  const probe: HookOptions = { trackPromises: 'probe' };
  try {
    createHook(probe);
    return false;
  } catch {
    return true;
  }
}

/** A real nextTick entry, caught by an init hook that installs no promise hooks. */
function catchTickEntry(): object | null {
  let entry: object | null = null;
  const options: HookOptions = {
    init(_id, type, _trigger, resource) {
      if (type === 'TickObject' && entry === null) entry = resource;
    },
    trackPromises: false,
  };
  const hook = createHook(options).enable();
  try {
    process.nextTick(noop);
  } finally {
    hook.disable();
  }
  return entry;
}

/** An object with the key path of Node 20's entries, built from Node's own symbols. */
function buildTickEntry(): object | null {
  // With no async hooks installed, an AsyncResource only takes ids: nothing is emitted.
  const resource = new AsyncResource('portcullis.tick-shape');
  const asyncId = symbolNamed(resource, 'async_id_symbol');
  const triggerId = symbolNamed(resource, 'trigger_async_id_symbol');
  if (!asyncId || !triggerId) return null;
  // Ids read from a Float64Array, as nextTick reads them, so the fields get the same
  // representation and storing ours never reshapes the maps nextTick uses.
  const ids = new Float64Array([resource.asyncId(), resource.triggerAsyncId()]);
  return { [asyncId]: ids[0], [triggerId]: ids[1], callback: noop, args: undefined };
}

/** Idempotent; returns the object that holds the shape (null if none could be made). */
export function keepNextTickShape(): object | null {
  kept ??= hooksCanSkipPromises() ? catchTickEntry() : buildTickEntry();
  return kept;
}
