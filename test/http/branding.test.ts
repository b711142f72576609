import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/issues.js';
import { loadConfig } from '../../src/config/load.js';
import { startTestApp, type TestApp, writeConfig } from '../helpers/app.js';

// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

describe('ui.product_name and ui.logo_file', () => {
  let app: TestApp;
  beforeAll(async () => {
    const probe = writeConfig({});
    const logo = join(dirname(probe), 'logo.png');
    writeFileSync(logo, PNG);
    app = await startTestApp({ ui: { product_name: 'Acme <Notes>', logo_file: logo } });
  });
  afterAll(async () => {
    await app.close();
  });

  it('names the product (escaped) and shows the logo on the login page', async () => {
    const html = await (await fetch(`${app.url}/auth/login`)).text();
    expect(html).toContain('Acme &lt;Notes&gt;');
    expect(html).not.toContain('Acme <Notes>');
    expect(html).toContain('<img class="logo" src="/auth/static/logo" alt="">');
  });

  it('serves the logo bytes from its own origin, which the page CSP allows', async () => {
    const response = await fetch(`${app.url}/auth/static/logo`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('reports a missing logo file as a config error at load', () => {
    const path = writeConfig({ ui: { logo_file: 'nope.png' } });
    expect(() => loadConfig({ path, env: {} })).toThrow(ConfigError);
    try {
      loadConfig({ path, env: {} });
    } catch (error) {
      expect((error as ConfigError).issues[0]?.path).toBe('ui.logo_file');
    }
  });

  it('has no logo route when none is configured', async () => {
    const plain = await startTestApp();
    try {
      expect((await fetch(`${plain.url}/auth/static/logo`)).status).toBe(404);
      expect(await (await fetch(`${plain.url}/auth/login`)).text()).not.toContain('class="logo"');
    } finally {
      await plain.close();
    }
  });
});
