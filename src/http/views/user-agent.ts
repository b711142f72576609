import Bowser from 'bowser';

/** Bowser's long names, shortened to what fits a table cell and what people call them. */
const SHORT_NAMES: Readonly<Record<string, string>> = {
  'Microsoft Edge': 'Edge',
  'Chrome OS': 'ChromeOS',
};

/** `curl/8.5.0`, `python-requests/2.31.0`: a client that names itself first (scripts, tools). */
const PRODUCT = /^([A-Za-z][\w.-]{0,40})\/(\d+)/;

const MAX_RAW = 60;

function major(version: string | undefined): string {
  return version ? (/^\d+/.exec(version)?.[0] ?? '') : '';
}

/**
 * "Chrome 126 on Linux" from a User-Agent header, for the sessions tables. Browsers and systems
 * are recognised by `bowser` (MIT, kept up to date with new browsers); a script's
 * `product/version` is named as it is; anything else is shown raw, shortened.
 */
export function describeUserAgent(ua: string): string {
  if (!ua.trim()) return 'unknown';
  const parsed = Bowser.parse(ua);
  let browser = parsed.browser.name ?? '';
  // A headless browser is worth telling apart: nobody browses with one by hand.
  if (browser === 'Chrome' && ua.includes('HeadlessChrome/')) browser = 'HeadlessChrome';
  if (browser) {
    const name = SHORT_NAMES[browser] ?? browser;
    const version = major(parsed.browser.version);
    const os = parsed.os.name ? (SHORT_NAMES[parsed.os.name] ?? parsed.os.name) : '';
    return `${name}${version ? ` ${version}` : ''}${os ? ` on ${os}` : ''}`;
  }
  const product = PRODUCT.exec(ua);
  if (product) return `${product[1]} ${product[2]}`;
  return ua.length > MAX_RAW ? `${ua.slice(0, MAX_RAW)}…` : ua;
}
