import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium, type WebSocket as PageSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type NodeRed, startNodeRed } from '../helpers/node-red.js';
import { waitFor } from '../helpers/ports.js';

/**
 * A real, unmodified app behind portcullis in reverse-proxy mode: Node-RED's editor, loaded by
 * Chromium through the proxy, with its `/comms` WebSocket carrying traffic both ways.
 */
describe('reverse proxy in front of Node-RED, driven by Chromium', () => {
  let nodeRed: NodeRed;
  let app: TestApp;
  let browser: Browser;
  // Stands in for where portcullis' pages are announced (public_url), on another origin, so
  // the browser's redirect is visible as such.
  let loginSite: Server;
  let loginOrigin: string;

  beforeAll(async () => {
    [nodeRed, browser] = await Promise.all([
      startNodeRed(),
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      }),
    ]);
    loginSite = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<h1>login page</h1>');
    });
    await new Promise<void>((resolve) => loginSite.listen(0, '127.0.0.1', resolve));
    loginOrigin = `http://127.0.0.1:${(loginSite.address() as AddressInfo).port}`;
    app = await startTestApp({
      server: { public_url: loginOrigin },
      proxy: { upstream: nodeRed.url },
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await nodeRed?.stop();
    loginSite?.close();
  });

  it('sends a browser without a session to the login page, with the editor as rd', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/`);
    expect(page.url()).toBe(`${loginOrigin}/auth/login?rd=${encodeURIComponent(`${app.url}/`)}`);
    expect(await page.locator('h1').textContent()).toBe('login page');
    await context.close();
  });

  it('opens the editor for a signed-in user and its WebSocket carries messages both ways', async () => {
    const cookie = await app.login('maker@example.com');
    const context = await browser.newContext();
    await context.addCookies([{ name: 'portcullis_session', value: cookie, url: app.url }]);
    const page = await context.newPage();
    const sockets: PageSocket[] = [];
    const sent: string[] = [];
    const received: string[] = [];
    let closed = false;
    page.on('websocket', (ws) => {
      sockets.push(ws);
      ws.on('framesent', (frame) => sent.push(String(frame.payload)));
      ws.on('framereceived', (frame) => received.push(String(frame.payload)));
      ws.on('close', () => {
        closed = true;
      });
    });
    const response = await page.goto(`${app.url}/`);
    expect(response?.status()).toBe(200);
    await page.locator('#red-ui-header').waitFor({ timeout: 30_000 });
    await page.locator('#red-ui-workspace').waitFor({ timeout: 30_000 });
    await waitFor(() => sockets.length > 0, 30_000, 'the editor to open its WebSocket');
    expect(new URL(sockets[0]?.url() ?? '').pathname).toBe('/comms');
    await waitFor(
      () => sent.length > 0 && received.length > 0,
      30_000,
      'WebSocket traffic both ways',
    );
    expect(sent.join('\n')).toContain('subscribe');
    expect(closed).toBe(false);

    // The app itself sees who is signed in.
    const hello = await page.goto(`${app.url}/hello`);
    expect(await hello?.json()).toEqual({ hello: 'maker@example.com' });

    // Ending the session closes the editor's socket; its reconnects are refused.
    const me = await app.ctx.sessions.resolve(cookie);
    if (me.kind !== 'valid') throw new Error('no session');
    await page.goto(`${app.url}/`);
    await waitFor(() => sockets.length > 1, 30_000, 'the editor to reconnect');
    const live = sockets[sockets.length - 1] as PageSocket;
    const ended = live.waitForEvent('close', { timeout: 10_000 });
    await app.ctx.sessions.revoke(me.live.session.id);
    await ended;
    await context.close();
  }, 120_000);
});
