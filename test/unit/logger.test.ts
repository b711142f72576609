import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger, formatTextLine } from '../../src/logger.js';
import { writeConfig } from '../helpers/app.js';

/** `log.format: text`: pino's records, one readable line each. */
describe('log.format', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const LINES: [string, Record<string, unknown>, string][] = [
    [
      'message and fields',
      {
        level: 30,
        time: '2025-01-02T03:04:05.000Z',
        service: 'portcullis',
        msg: 'listening',
        listen: '127.0.0.1:4180',
      },
      '2025-01-02T03:04:05.000Z INFO  listening listen=127.0.0.1:4180\n',
    ],
    [
      'values with spaces, quotes and = are quoted',
      {
        level: 40,
        time: 't',
        msg: 'odd',
        a: 'two words',
        b: 'x="y"',
        c: 3,
        d: null,
        e: { f: [1] },
      },
      't WARN  odd a="two words" b="x=\\"y\\"" c=3 d=null e={"f":[1]}\n',
    ],
    [
      'an error with its stack indented below',
      {
        level: 50,
        time: 't',
        msg: 'failed',
        err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' },
      },
      't ERROR failed err=boom\n    Error: boom\n        at x\n',
    ],
    ['a line that is not JSON passes through', { raw: true }, 'not json\n'],
  ];
  it.each(LINES)('%s', (_name, record, expected) => {
    const input = record.raw ? 'not json' : `${JSON.stringify(record)}\n`;
    expect(formatTextLine(input)).toBe(expected);
  });

  it('text: the logger writes formatted lines to stdout, redaction still on', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const logger = createLogger('info', 'text');
    logger.info({ user: 'u1', token: 'secret-token' }, 'signed in');
    logger.debug('not at this level');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}signed in user=u1\n$/);
  });

  it('json stays the default, and the config accepts only json or text', () => {
    const base = { auth: { secret_key: 'ab'.repeat(32) } };
    expect(loadConfig({ path: writeConfig(base), env: {} }).raw.log.format).toBe('json');
    expect(
      loadConfig({ path: writeConfig({ ...base, log: { format: 'text' } }), env: {} }).raw.log
        .format,
    ).toBe('text');
    expect(() =>
      loadConfig({ path: writeConfig({ ...base, log: { format: 'pretty' } }), env: {} }),
    ).toThrow(/log\.format/);
  });
});
