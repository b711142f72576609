import { describe, expect, it } from 'vitest';
import { addressHtml, eventHtml } from '../../src/http/views/admin-common.js';
import { describeUserAgent } from '../../src/http/views/user-agent.js';

describe('browser names in the sessions table', () => {
  it.each([
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
      'HeadlessChrome 156 on Linux',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68',
      'Edge 126 on Windows',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'Safari 17 on iOS',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0',
      'Firefox 127 on macOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
      'Chrome 126 on Android',
    ],
    ['curl/8.5.0', 'curl 8'],
    ['', 'unknown'],
    ['SomeBot', 'SomeBot'],
    ['x'.repeat(100), `${'x'.repeat(60)}…`],
  ])('%s → %s', (ua, expected) => {
    expect(describeUserAgent(ua)).toBe(expected);
  });
});

/** The expected markup: pieces kept whole (`.seg`), <wbr> between them. */
const seg = (...pieces: string[]) =>
  pieces
    .map((p) => (p.startsWith('!') ? p.slice(1) : `<span class="seg">${p}</span>`))
    .join('<wbr>');

describe('addresses and event codes that wrap at their dots', () => {
  it.each([
    ['ann@example.com', seg('ann@', 'example', '.com')],
    [
      'robin.example@mail.example.co.uk',
      seg('robin', '.example@', 'mail', '.example', '.co', '.uk'),
    ],
    ['no-at-sign', seg('no-at-sign')],
    ['"a@b"@example.com', seg('&quot;a@b&quot;@', 'example', '.com')],
    ['<script>x</script>@example.com', seg('&lt;script&gt;x&lt;/script&gt;@', 'example', '.com')],
    ['a@b.c<wbr>d', seg('a@', 'b', '.c&lt;wbr&gt;d')],
    ["o'neil&co@ex.com", seg('o&#39;neil&amp;co@', 'ex', '.com')],
    // A piece longer than 24 characters may break (at a hyphen, or anywhere as a last resort).
    [
      'a-very-long-local-part-without-dots@x.org',
      seg('!a-very-long-local-part-without-dots@', 'x', '.org'),
    ],
    ['', seg('')],
  ])('%s', (email, inner) => {
    expect(addressHtml(email).value).toBe(`<span class="address email">${inner}</span>`);
  });

  it('breaks an event code before its dots, after its underscores, and escapes it', () => {
    expect(eventHtml('admin.login_url_issued').value).toBe(
      '<code class="event">admin<wbr>.login_<wbr>url_<wbr>issued</code>',
    );
    expect(eventHtml('x.<b>').value).toBe('<code class="event">x<wbr>.&lt;b&gt;</code>');
  });
});
