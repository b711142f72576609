import { type Logger, pino } from 'pino';

/** Structured JSON logs. Cookies, tokens and passwords are never passed to it; redaction is a second fence. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'portcullis' },
    redact: {
      paths: ['cookie', 'token', 'password', '*.cookie', '*.token', '*.password', 'headers.cookie'],
      remove: true,
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
