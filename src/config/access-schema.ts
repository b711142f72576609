import { z } from 'zod';
import { oneOrMore } from './schema-types.js';

// A rule that can never match is a typo that silently disables security (a `groups` rule
// written for `https://app.example.com` or `admin/**`): refuse the shapes targets never have.
const hostGlob = z
  .string()
  .regex(
    /^([A-Za-z0-9*_-]+(\.[A-Za-z0-9*_-]+)*\.?|\[[0-9A-Fa-f:.]+\])$/,
    'must be a host name or glob such as *.example.com (no scheme, port or path)',
  );
const pathGlob = z
  .string()
  .regex(/^\/[^?#\s]*$/, 'must be a path glob starting with /, e.g. /admin/**');

const rule = z
  .strictObject({
    host: oneOrMore(hostGlob).optional(),
    path: oneOrMore(pathGlob).optional(),
    methods: z
      .array(z.string().regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method'))
      .min(1)
      .optional(),
    policy: z.enum(['bypass', 'authenticated', 'deny']).optional(),
    groups: z.array(z.string().min(1)).min(1).optional(),
    emails: z.array(z.string().min(1)).min(1).optional(),
    domains: z
      .array(
        z
          .string()
          .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be a domain such as example.com'),
      )
      .min(1)
      .optional(),
    /** A second factor the session must have shown (step-up): passkey, or mfa (passkey or TOTP). */
    require: z
      .array(z.enum(['passkey', 'mfa']))
      .min(1)
      .optional(),
  })
  .refine((r) => !(r.require && (r.policy === 'bypass' || r.policy === 'deny')), {
    message: 'require asks for a second factor: it cannot stand beside policy bypass or deny',
    path: ['require'],
  });

/** The `access` section: the default policy and the rules. */
export const accessSchema = z
  .strictObject({
    default_policy: z.enum(['bypass', 'authenticated', 'deny']).default('authenticated'),
    rules: z.array(rule).default([]),
  })
  .prefault({});
