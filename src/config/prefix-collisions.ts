/**
 * In proxy mode every path under `server.path_prefix` is answered by portcullis and never
 * reaches the app. When the app uses the same path for something of its own, those requests
 * fail in ways nobody connects to the prefix (Khoj's API-token endpoints answering 404). Nothing
 * in an app's answers says which paths it owns, so portcullis recognises a few well-known apps
 * from what the config does say: the upstream URL's port and host name.
 */

/** An app recognised from its upstream URL, and the path prefixes it serves itself. */
export interface KnownApp {
  name: string;
  /** The port the app listens on by default; matched only when the upstream URL names it. */
  ports: readonly number[];
  /** Matched against the upstream's host name (the compose service name, usually). */
  host: RegExp;
  /** Paths the app answers, each with what lives there. */
  prefixes: readonly { path: string; what: string }[];
}

export const KNOWN_APPS: readonly KnownApp[] = [
  {
    // khoj-ai/khoj src/khoj/configure.py (routers), main.py (mounts), routers/web_client.py.
    name: 'Khoj',
    ports: [42110],
    host: /khoj/,
    prefixes: [
      { path: '/auth', what: 'its sign-in and API-token endpoints, /auth/token' },
      { path: '/api', what: 'its API, used by the web app and every client' },
      { path: '/server', what: 'its Django admin' },
      { path: '/static', what: 'its assets' },
      { path: '/chat', what: 'its chat page' },
      { path: '/search', what: 'its search page' },
      { path: '/settings', what: 'its settings page' },
      { path: '/agents', what: 'its agents page' },
      { path: '/automations', what: 'its automations page' },
      { path: '/share', what: 'its shared conversations' },
      { path: '/login', what: 'its login page' },
      { path: '/home', what: 'its home page' },
    ],
  },
  {
    // home-assistant/core homeassistant/components/auth/: TokenView /auth/token, login_flow.
    name: 'Home Assistant',
    ports: [8123],
    host: /home-?assistant|(^|[.-])hass([.-]|$)/,
    prefixes: [
      {
        path: '/auth',
        what: 'its sign-in flow and OAuth endpoints (/auth/authorize, /auth/login_flow, /auth/token)',
      },
      { path: '/api', what: 'its REST and WebSocket API' },
    ],
  },
  {
    // open-webui/open-webui src/routes/auth/+page.svelte: the sign-in page is /auth.
    name: 'Open WebUI',
    ports: [],
    host: /open-?webui/,
    prefixes: [
      { path: '/auth', what: 'its sign-in page' },
      { path: '/api', what: 'its API' },
    ],
  },
];

/** The known apps `upstream` looks like: its explicit port, or a word in its host name. */
export function recognizeApps(upstream: string): KnownApp[] {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    return [];
  }
  const host = url.hostname.toLowerCase();
  const port = url.port === '' ? null : Number(url.port);
  return KNOWN_APPS.filter(
    (app) => (port !== null && app.ports.includes(port)) || app.host.test(host),
  );
}

/** Whether one path is the other or lies under it, on segment boundaries. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * Warnings for a `server.path_prefix` that shadows paths the app behind `proxy.upstream` is
 * known to serve. None without an upstream: with nginx or Traefik in front, the proxy decides
 * which paths reach portcullis.
 */
export function prefixCollisions(prefix: string, upstream: string | null): string[] {
  if (upstream === null) return [];
  const warnings: string[] = [];
  for (const app of recognizeApps(upstream)) {
    const hit = app.prefixes.find((reserved) => overlaps(prefix, reserved.path));
    if (!hit) continue;
    warnings.push(
      `server.path_prefix ${prefix} collides with ${app.name} (proxy.upstream ${upstream}), which serves ${hit.path}: ${hit.what}; in proxy mode those requests are answered by portcullis and never reach ${app.name}. Choose a prefix the app does not use, e.g. /_portcullis`,
    );
  }
  return warnings;
}
