import { isPlainObject, setOwn } from './plain-object.js';
import { configSchema, type ParsedConfig, type RawConfig } from './schema.js';

/**
 * When the schema refuses a config, the cross-key checks still need a config to run on: these
 * find the most of it that parses, so one run reports every problem.
 */

/** Each top-level section parsed on its own; the ones with problems are left out. */
export function parseSections(data: Record<string, unknown>): Partial<RawConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(configSchema.shape)) {
    const result = schema.safeParse(Object.hasOwn(data, key) ? data[key] : undefined);
    if (result.success) out[key] = result.data;
  }
  return out as Partial<RawConfig>;
}

const REMOVED = Symbol('removed');

function cloneData(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneData);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) setOwn(out, key, cloneData(item));
  return out;
}

/**
 * Takes the value at `path` out so its default applies; a key that is already missing (a
 * required one) takes its parent with it. Array items are marked and dropped after the round,
 * so the other indexes of the same round stay valid.
 */
function removeAt(root: unknown, path: readonly PropertyKey[]): boolean {
  if (path.length === 0) return false;
  let parent: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, key))
      return removeAt(root, path.slice(0, -1));
    parent = (parent as Record<PropertyKey, unknown>)[key];
  }
  const last = path[path.length - 1] as PropertyKey;
  if (parent === null || typeof parent !== 'object' || !Object.hasOwn(parent, last))
    return removeAt(root, path.slice(0, -1));
  if (Array.isArray(parent)) {
    if (parent[Number(last)] === REMOVED) return false;
    parent[Number(last)] = REMOVED;
  } else {
    delete (parent as Record<PropertyKey, unknown>)[last];
  }
  return true;
}

function dropRemoved(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((item) => item !== REMOVED).map(dropRemoved);
  if (!isPlainObject(value)) return value;
  for (const [key, item] of Object.entries(value)) setOwn(value, key, dropRemoved(item));
  return value;
}

/**
 * The config with every value the schema refused taken out (so defaults stand in), for the
 * cross-key checks to run on when the schema fails: a typo in one `auth` key must not hide that
 * google_oauth has no client_id. Null when nothing is left to take out.
 */
export function salvage(data: Record<string, unknown>): ParsedConfig | null {
  const current = cloneData(data) as Record<string, unknown>;
  for (let round = 0; round < 32; round++) {
    const result = configSchema.safeParse(current);
    if (result.success) return result.data;
    let progress = false;
    for (const issue of result.error.issues) {
      const paths =
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => [...issue.path, key])
          : [issue.path];
      for (const path of paths) if (removeAt(current, path)) progress = true;
    }
    if (!progress) return null;
    dropRemoved(current);
  }
  return null;
}
