export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * `obj[key] = value` would, for a YAML key `__proto__`, replace the object's prototype and let
 * the keys under it reach the schema as inherited values, past the unknown-key check. Defining
 * an own property keeps it an ordinary (and so unknown) key.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
