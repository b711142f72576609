import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { LogMailer } from './log-mailer.js';
import type { Mailer } from './mailer.js';
import { ManualMailer } from './manual-mailer.js';

/**
 * The mailer `auth.magic_link.mailer` names. The config loader has already checked its settings.
 * Provider SDKs are loaded only when chosen: every module a process loads costs a little on
 * every auth check (heap and GC), and most deployments use one mailer.
 */
export async function createMailer(
  config: Config,
  logger: Logger,
  /** The injected clock's `now`: when a failed send happened (`lastDeliveryFailure`). */
  now: () => number = Date.now,
): Promise<Mailer> {
  const settings = config.raw.auth.magic_link;
  switch (settings.mailer) {
    case 'resend': {
      const apiKey = config.env.resendApiKey;
      if (!apiKey) throw new Error('resend needs RESEND_API_KEY');
      const { ResendMailer } = await import('./resend-mailer.js');
      return new ResendMailer({ apiKey, baseUrl: config.env.resendBaseUrl, now });
    }
    case 'smtp': {
      if (!settings.smtp) throw new Error('smtp needs auth.magic_link.smtp.url');
      const { SmtpMailer } = await import('./smtp-mailer.js');
      const tls = settings.smtp.tls;
      return new SmtpMailer(settings.smtp.url, {
        tls: {
          ca: config.smtpCa,
          rejectUnauthorized: tls.reject_unauthorized,
          servername: tls.servername,
        },
        now,
      });
    }
    case 'log':
      return new LogMailer(logger);
    case 'manual':
      return new ManualMailer();
  }
}
