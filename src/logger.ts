import { type DestinationStream, type Logger, pino } from 'pino';

export type LogFormat = 'json' | 'text';

/**
 * Structured JSON logs, or one readable line each (`log.format: text`). Cookies, tokens and
 * passwords are never passed to it; redaction is a second fence.
 */
export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  const options = {
    level,
    base: { service: 'portcullis' },
    redact: {
      paths: ['cookie', 'token', 'password', '*.cookie', '*.token', '*.password', 'headers.cookie'],
      remove: true,
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return format === 'text' ? pino(options, textDestination(process.stdout)) : pino(options);
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};

function plain(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  return JSON.stringify(value);
}

/**
 * One pino JSON record as `time LEVEL message key=value …`, with an error's stack below it.
 * Built in rather than pino-pretty: a dependency and a worker thread for a few lines of
 * formatting, in a mode meant for people reading a terminal, is not worth it.
 */
export function formatTextLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const { time, level, msg, service: _service, err, ...fields } = record;
  const parts = [String(time ?? ''), LEVELS[level as number] ?? String(level)];
  if (typeof msg === 'string' && msg !== '') parts.push(msg);
  let stack = '';
  if (err && typeof err === 'object') {
    const error = err as { message?: unknown; stack?: unknown };
    parts.push(`err=${plain(error.message ?? err)}`);
    if (typeof error.stack === 'string') stack = `\n    ${error.stack.split('\n').join('\n    ')}`;
  } else if (err !== undefined) {
    parts.push(`err=${plain(err)}`);
  }
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${plain(value)}`);
  return `${parts.join(' ')}${stack}\n`;
}

function textDestination(out: { write(text: string): unknown }): DestinationStream {
  return { write: (line: string) => out.write(formatTextLine(line)) };
}
