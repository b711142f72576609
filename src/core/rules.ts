import type { FactorRequirement } from './amr.js';
import type { CompiledRule, Policy } from './decide.js';
import { compileEmailGlob, compileHostGlob, compilePathGlob } from './glob.js';

/** One `access.rules` entry as written in the config (after schema validation). */
export interface RuleSpec {
  host?: string | readonly string[];
  path?: string | readonly string[];
  methods?: readonly string[];
  policy?: Policy;
  groups?: readonly string[];
  emails?: readonly string[];
  domains?: readonly string[];
  /** Factors the session must have shown (step-up): `access.rules[].require`. */
  require?: readonly FactorRequirement[];
}

function toList(value: string | readonly string[] | undefined): readonly string[] | null {
  if (value === undefined) return null;
  return typeof value === 'string' ? [value] : value;
}

/**
 * Compiles access rules once, at config load. Each path glob gets a case-insensitive twin for
 * the lenient reading (`Target.loosePath`), so `/ADMIN/x` still meets a `/admin/**` rule.
 */
export function compileRules(specs: readonly RuleSpec[]): CompiledRule[] {
  return specs.map((rule, index) => ({
    index,
    hosts: toList(rule.host)?.map(compileHostGlob) ?? null,
    paths:
      toList(rule.path)?.map((glob) => {
        const exact = compilePathGlob(glob);
        return { exact, loose: new RegExp(exact.source, 'i') };
      }) ?? null,
    methods: rule.methods ? new Set(rule.methods.map((m) => m.toUpperCase())) : null,
    policy: rule.policy ?? 'authenticated',
    groups: rule.groups ?? null,
    emails: rule.emails?.map(compileEmailGlob) ?? null,
    domains: rule.domains?.map((d) => d.toLowerCase()) ?? null,
    ...(rule.require && rule.require.length > 0 ? { require: [...new Set(rule.require)] } : {}),
  }));
}
