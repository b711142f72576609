import type { IncomingMessage } from 'node:http';
import type { AuditSource } from '../services/audit.js';
import type { AppContext } from './context.js';
import { clientIp, requestId } from './request.js';

/** The address and request id an audit line names for what this request did. */
export function auditSource(ctx: AppContext, req: IncomingMessage): AuditSource {
  return { ip: clientIp(ctx, req), requestId: requestId(req) };
}
