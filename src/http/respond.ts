import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { CONTENT_SECURITY_POLICY } from '../html.js';

/**
 * Every answer carries Content-Length: without it Node sends an empty chunked body, and nginx
 * then closes its keep-alive connection to the auth server after each sub-request.
 */
export function sendEmpty(res: ServerResponse, status: number, headers: string[] = []): void {
  headers.push('Content-Length', '0');
  res.writeHead(status, headers);
  res.end();
}

/**
 * `sendEmpty` for a list prepared once that already ends with `Content-Length: 0`; the list is
 * only read, so callers may keep and reuse it.
 */
export function sendPreparedEmpty(
  res: ServerResponse,
  status: number,
  headers: readonly string[],
): void {
  res.writeHead(status, headers as string[]);
  res.end();
}

export function sendBody(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: string[] = [],
): void {
  const buffer = Buffer.from(body, 'utf8');
  headers.push('Content-Type', contentType, 'Content-Length', String(buffer.length));
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : buffer);
}

export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: string[] = [],
): void {
  headers.push('Cache-Control', 'no-store');
  sendBody(req, res, status, 'application/json; charset=utf-8', JSON.stringify(value), headers);
}

/** What every page we send carries: a strict CSP, no sniffing, no framing, no referrer, no caching. */
export const PAGE_HEADERS: readonly string[] = pageHeaders(CONTENT_SECURITY_POLICY);

/** The page headers with a given Content-Security-Policy (a fresh list: callers may add to it). */
export function pageHeaders(csp: string): string[] {
  return [
    'Content-Security-Policy',
    csp,
    'X-Content-Type-Options',
    'nosniff',
    'X-Frame-Options',
    'DENY',
    'Referrer-Policy',
    'no-referrer',
    'Cache-Control',
    'no-store',
  ];
}

export function sendHtml(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: string,
  headers: string[] = [],
): void {
  headers.push(...PAGE_HEADERS);
  sendBody(req, res, status, 'text/html; charset=utf-8', body, headers);
}

export function redirect(
  res: ServerResponse,
  status: 302 | 303,
  location: string,
  headers: string[] = [],
): void {
  headers.push('Location', location, 'Cache-Control', 'no-store');
  sendEmpty(res, status, headers);
}

export function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

export type Headers = OutgoingHttpHeaders;
