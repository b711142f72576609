import { storeIsRedis } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import { normalizeEmail } from '../core/email.js';
import { safeRedirect } from '../core/redirect.js';
import { createLogger } from '../logger.js';
import { openStore } from '../open-store.js';
import { readRuntimeKey } from '../runtime-key.js';
import { AuditLog, CLI_ACTOR } from '../services/audit.js';
import { LoginLinks } from '../services/login-links.js';
import { UserService } from '../services/users.js';
import { EXIT_CONFIG, fail, loadOrExit } from './fail.js';
import { USAGE } from './usage.js';

/** `portcullis login-url EMAIL`: print a one-time login link (signed, with a memory store). */
export async function loginUrl(
  email: string | undefined,
  rd: string | undefined,
  configPath: string | undefined,
): Promise<void> {
  if (!email) fail(`portcullis login-url: an email address is required\n${USAGE}`, EXIT_CONFIG);
  const normalized = normalizeEmail(email);
  if (!normalized)
    fail(
      `portcullis login-url: "${email}" is not an email address (exactly one @, ASCII)`,
      EXIT_CONFIG,
    );
  const config = loadOrExit(configPath);
  const target = safeRedirect(rd ?? '/', config.redirectPolicy);
  if (rd !== undefined && target !== rd) {
    process.stderr.write(`warning: --rd ${rd} is not one of this deployment's hosts; using /\n`);
  }
  const publicPath = config.publicUrl.pathname.replace(/\/+$/, '');
  const baseUrl = `${config.publicOrigin}${publicPath}${config.prefix}`;
  const ttl = config.raw.auth.magic_link.ttl;
  const logger = createLogger('error');
  if (!storeIsRedis(config.raw.store)) {
    // The running server's memory cannot be reached from here: sign a link it can verify.
    const secret = config.secretKeys?.[0] ?? readRuntimeKey(config.path);
    if (!secret) {
      fail(
        'portcullis login-url: no auth.secret_key is configured and no running server was found for this config.\nStart `portcullis serve` first, or set auth.secret_key (PORTCULLIS_SECRET_KEY).',
      );
    }
    const links = new LoginLinks(
      // A signed link never touches the store here.
      await openStore(config, systemClock, logger),
      systemClock,
      [secret],
      ttl,
      baseUrl,
    );
    process.stdout.write(`${links.issueSigned(normalized, target)}\n`);
    return;
  }
  const store = await openStore(config, systemClock, logger);
  try {
    await store.ping();
    const secrets = config.secretKeys ?? [];
    const user = await new UserService(store, systemClock, config.raw.admin).findOrCreate(
      normalized,
    );
    const links = new LoginLinks(store, systemClock, secrets, ttl, baseUrl);
    const url = await links.issue(normalized, target);
    // Stdout is the link and stderr stays for problems: the event goes to the shared trail
    // only, where the admin panel shows it. (A signed link, made above, has no store to go to.)
    await new AuditLog(store, systemClock, logger, createLogger('silent')).record(
      { event: 'link.issued', via: 'cli' },
      { actor: CLI_ACTOR, subject: user },
    );
    process.stdout.write(`${url}\n`);
  } catch (error) {
    fail(`portcullis login-url: the store is unreachable: ${(error as Error).message}`);
  } finally {
    await store.close();
  }
}
