import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { LogMailer } from './log-mailer.js';
import type { Mailer } from './mailer.js';
import { ManualMailer } from './manual-mailer.js';
import { ResendMailer } from './resend-mailer.js';
import { SmtpMailer } from './smtp-mailer.js';

/** The mailer `auth.magic_link.mailer` names. The config loader has already checked its settings. */
export function createMailer(config: Config, logger: Logger): Mailer {
  const settings = config.raw.auth.magic_link;
  switch (settings.mailer) {
    case 'resend': {
      const apiKey = config.env.resendApiKey;
      if (!apiKey) throw new Error('resend needs RESEND_API_KEY');
      return new ResendMailer({ apiKey, baseUrl: config.env.resendBaseUrl });
    }
    case 'smtp': {
      if (!settings.smtp) throw new Error('smtp needs auth.magic_link.smtp.url');
      return new SmtpMailer(settings.smtp.url);
    }
    case 'log':
      return new LogMailer(logger);
    case 'manual':
      return new ManualMailer();
  }
}
