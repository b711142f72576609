import type { IncomingMessage } from 'node:http';
import type { AuditSource } from '../services/audit.js';
import { requestId, type TrustedProxies } from './request.js';

/** The address and request id an audit line names for what this request did. */
export function auditSource(proxies: TrustedProxies, req: IncomingMessage): AuditSource {
  return { ip: proxies.clientIp(req), requestId: requestId(req) };
}
