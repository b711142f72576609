import { z } from 'zod';
import { duration, emailAddress, httpUrl, secretKey, smtpUrl } from './schema-types.js';

const oidcProvider = {
  client_id: z.string().min(1).optional(),
  client_secret: z.string().min(1).optional(),
  scopes: z.array(z.string().min(1)).default(['openid', 'email', 'profile']),
  pkce: z.boolean().default(true),
  display_name: z.string().min(1).optional(),
};

/** The `auth` section: the secret key, sign-up policy and every login method's settings. */
export const authSchema = z
  .strictObject({
    secret_key: z.union([secretKey, z.array(secretKey).min(1)]).optional(),
    enabled_auth: z
      .array(z.enum(['magic_link', 'google_oauth', 'oidc', 'basic', 'passkey']))
      .default(['magic_link']),
    signup: z.enum(['open', 'invite_only', 'allowed_domains']).default('open'),
    allowed_domains: z.array(z.string().min(1)).default([]),
    magic_link: z
      .strictObject({
        mailer: z.enum(['resend', 'smtp', 'log', 'manual']).default('log'),
        from: z.string().min(3).default('Portcullis <login@localhost>'),
        ttl: duration.default(15 * 60_000),
        smtp: z
          .strictObject({
            url: smtpUrl,
            // For both smtps:// and the STARTTLS upgrade of smtp://: a relay with a private
            // CA, or reached by an address its certificate does not name.
            tls: z
              .strictObject({
                ca_file: z.string().min(1).nullable().default(null),
                reject_unauthorized: z.boolean().default(true),
                servername: z
                  .string()
                  .regex(
                    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
                    'must be the host name the certificate names, e.g. mail.internal',
                  )
                  .nullable()
                  .default(null),
              })
              .prefault({}),
          })
          .optional(),
      })
      .prefault({}),
    google_oauth: z
      .strictObject({
        ...oidcProvider,
        hosted_domains: z.array(z.string().min(1)).default([]),
        issuer: httpUrl.default('https://accounts.google.com'),
        /** Google owns the addresses it marks verified: its identities may join existing accounts. */
        link_by_email: z.boolean().default(true),
      })
      .prefault({}),
    oidc: z
      .strictObject({
        ...oidcProvider,
        issuer: httpUrl.optional(),
        groups_claim: z.string().min(1).default('groups'),
        /**
         * Off by default: some providers let people set their own email claim (nOAuth), so an
         * identity joins an existing account by email only where the operator trusts the IdP.
         */
        link_by_email: z.boolean().default(false),
      })
      .prefault({}),
    basic: z
      .strictObject({
        users: z
          .array(z.strictObject({ email: emailAddress, password_hash: z.string().min(1) }))
          .default([]),
        /**
         * off: the password alone; optional: a second factor (TOTP or a passkey) is asked for
         * when the user has one; required: every password sign-in ends with one, enrolled on the
         * spot when the user has none.
         */
        second_factor: z.enum(['off', 'optional', 'required']).default('optional'),
      })
      .prefault({}),
    passkey: z
      .strictObject({
        /** The WebAuthn relying-party ID; null: server.public_url's host. */
        rp_id: z
          .string()
          .regex(
            /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/,
            'must be a domain such as example.com (no scheme, port or path)',
          )
          .nullable()
          .default(null),
        rp_name: z.string().min(1).max(64).default('Portcullis'),
      })
      .prefault({}),
  })
  .prefault({});
