import { compileHostGlob, compilePathGlob } from './glob.js';

/**
 * What a token may reach; absent lists do not restrict. Globs as in `access.rules`: hosts with
 * `*` for one or more labels, paths with `*` (one segment) and `**` (any depth).
 */
export interface AppTokenScope {
  hosts?: string[];
  paths?: string[];
  methods?: string[];
}

/** The parts of a check's target a scope looks at (`core/target.ts`'s `Target` fits). */
export interface ScopeTarget {
  /** Lower-cased, no trailing dot, no port. */
  host: string;
  /** RFC 3986-normalised path. */
  path: string;
  /** Upper-case; empty when the proxy did not say. */
  method: string;
  /** The lenient reading of the path (`Target.loosePath`): when given, it must match too. */
  loosePath?: string;
  /** `Target.ambiguous`: such a path never satisfies a path scope. */
  ambiguous?: boolean;
}

interface CompiledScope {
  hosts: RegExp[] | null;
  paths: RegExp[] | null;
  methods: Set<string> | null;
}

const compiledScopes = new WeakMap<AppTokenScope, CompiledScope>();

function compileScope(scope: AppTokenScope): CompiledScope {
  let compiled = compiledScopes.get(scope);
  if (compiled === undefined) {
    compiled = {
      hosts: scope.hosts?.map(compileHostGlob) ?? null,
      paths: scope.paths?.map(compilePathGlob) ?? null,
      methods: scope.methods ? new Set(scope.methods.map((m) => m.toUpperCase())) : null,
    };
    compiledScopes.set(scope, compiled);
  }
  return compiled;
}

/**
 * May a token with `scope` be used for `target`? Null scope: anywhere its user may go (the access
 * rules still decide). A scope only narrows, so every doubt refuses: a path must match in its
 * strict and its lenient reading (case-sensitively), an ambiguous path never matches a path
 * scope, and an unknown method (empty) never matches a method scope.
 */
export function scopeAllows(scope: AppTokenScope | null, target: ScopeTarget): boolean {
  if (scope === null) return true;
  const compiled = compileScope(scope);
  if (compiled.hosts && !compiled.hosts.some((glob) => glob.test(target.host))) return false;
  if (compiled.paths) {
    if (target.ambiguous === true) return false;
    const loose = target.loosePath;
    const matches = (glob: RegExp) =>
      glob.test(target.path) && (loose === undefined || glob.test(loose));
    if (!compiled.paths.some(matches)) return false;
  }
  if (
    compiled.methods &&
    (target.method === '' || !compiled.methods.has(target.method.toUpperCase()))
  )
    return false;
  return true;
}

const HOST_GLOB = /^[a-z0-9_*-]+(?:\.[a-z0-9_*-]+)*\.?$/;
const METHOD = /^[A-Z]{1,16}$/;

/** Checks a scope from a form or the API; returns what is wrong, or null when it is usable. */
export function scopeProblem(scope: AppTokenScope): string | null {
  const lists: [string, string[] | undefined][] = [
    ['hosts', scope.hosts],
    ['paths', scope.paths],
    ['methods', scope.methods],
  ];
  for (const [name, list] of lists) {
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0)
      return `${name}: give at least one, or leave it out`;
    if (list.length > 32) return `${name}: at most 32`;
    for (const item of list) {
      if (typeof item !== 'string' || item.length === 0 || item.length > 256)
        return `${name}: each entry is 1 to 256 characters`;
    }
  }
  for (const host of scope.hosts ?? []) {
    if (!HOST_GLOB.test(host.toLowerCase())) return `hosts: "${host}" is not a host name or glob`;
  }
  for (const path of scope.paths ?? []) {
    if (!path.startsWith('/') || /[\s?#\\]/.test(path))
      return `paths: "${path}" must start with / and hold no spaces, ?, # or \\`;
  }
  for (const method of scope.methods ?? []) {
    if (!METHOD.test(method.toUpperCase())) return `methods: "${method}" is not an HTTP method`;
  }
  return null;
}
