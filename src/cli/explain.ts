import { accessPolicyOf } from '../config/derive.js';
import type { Config } from '../config/load.js';
import { storeIsRedis } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import { normalizeEmail } from '../core/email.js';
import { explain } from '../core/explain.js';
import { formatExplanation } from '../core/explain-format.js';
import {
  type ExplainSubject,
  NOBODY,
  subjectFromEmailOnly,
  subjectFromUser,
} from '../core/explain-subject.js';
import { anonymousIdentity } from '../core/identity.js';
import { parseAbsoluteTarget } from '../core/target.js';
import { createLogger } from '../logger.js';
import { openStore } from '../open-store.js';

/** A mistake in how the command was called (exit 2), as opposed to a store fault (exit 1). */
export class ExplainUsageError extends Error {}

export interface ExplainArgs {
  url: string | undefined;
  method: string | undefined;
  user: string | undefined;
}

async function subjectFor(config: Config, email: string | undefined): Promise<ExplainSubject> {
  if (email === undefined) return NOBODY;
  const normalized = normalizeEmail(email);
  if (!normalized) {
    throw new ExplainUsageError(`"${email}" is not an email address (exactly one @, ASCII)`);
  }
  if (!storeIsRedis(config.raw.store)) return subjectFromEmailOnly(normalized);
  const store = await openStore(config, systemClock, createLogger('silent'));
  try {
    return subjectFromUser(normalized, await store.getUserByEmail(normalized));
  } finally {
    await store.close();
  }
}

/**
 * `portcullis explain URL [--method M] [--user EMAIL]`: the lines to print. Without --method the
 * answer is the one a check gives when the proxy forwards no method (the strictest any method
 * gets), with a line per method when rules are scoped to methods: assuming GET would hide that a
 * GET-only bypass does not open the URL to a POST.
 */
export async function explainCommand(config: Config, args: ExplainArgs): Promise<string[]> {
  if (args.url === undefined) throw new ExplainUsageError('a URL is required');
  const method = args.method === undefined ? '' : args.method.toUpperCase();
  if (args.method !== undefined && !/^[A-Z]{1,16}$/.test(method)) {
    throw new ExplainUsageError(`--method ${args.method} is not an HTTP method`);
  }
  const parsed = parseAbsoluteTarget(args.url, method);
  if (!parsed.ok) {
    throw new ExplainUsageError(
      `${args.url} is not a URL a check accepts (${parsed.reason}); a check asked about it answers 400`,
    );
  }
  const subject = await subjectFor(config, args.user);
  const raw = config.raw;
  const explanation = explain(
    accessPolicyOf(config),
    raw.access.rules,
    parsed.target,
    subject,
    anonymousIdentity(raw.anonymous_user),
  );
  return formatExplanation(explanation, subject);
}
