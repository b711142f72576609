import { parseAttrRef } from './attribute-path.js';
import type { Json } from './resources.js';

/** What a resource is shown as: `attributes` / `excludedAttributes` applied. */
export type Projection = (resource: Json) => Json;

/**
 * `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), on top-level attributes. Parsed
 * before the request body is read, so a bad attribute name is refused first.
 */
export function projection(attributes: string | null, excluded: string | null): Projection {
  const names = (raw: string | null) =>
    new Set(
      (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .slice(0, 50)
        .map((s) => parseAttrRef(s).attr),
    );
  const only = names(attributes);
  const out = names(excluded);
  if (only.size === 0 && out.size === 0) return (r) => r;
  return (resource) => {
    const shown: Json = {};
    for (const [key, value] of Object.entries(resource)) {
      const lower = key.toLowerCase();
      const always = lower === 'id' || lower === 'schemas';
      if (always || (only.size > 0 ? only.has(lower) : !out.has(lower))) shown[key] = value;
    }
    return shown;
  };
}
