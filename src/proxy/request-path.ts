import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Target } from '../core/target.js';
import type { Answer, CheckCaller, HeaderFamily } from '../http/check/pipeline.js';
import type { Checked } from './admission.js';
import type { ProxyEngine } from './engine.js';
import type { RequestRefusals } from './refusals.js';
import { type UpstreamHeaderDeps, upstreamHeaders } from './upstream-headers.js';

export interface RequestPathDeps {
  family: HeaderFamily;
  engine: ProxyEngine;
  refusals: RequestRefusals;
  headers: UpstreamHeaderDeps;
  basePath: string;
}

/** The request path's end of the check pipeline: forward, or refuse in Traefik's wording. */
export class RequestPath implements CheckCaller<ServerResponse, Checked> {
  readonly family: HeaderFamily;
  readonly during = 'proxy check';

  constructor(private readonly deps: RequestPathDeps) {
    this.family = deps.family;
  }

  constraint(): null {
    return null;
  }

  answer(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    answer: Answer,
    prepared: readonly string[] | null,
    _lookup: unknown,
    checked: Checked,
  ): void {
    const deps = this.deps;
    if (answer.kind !== 'allow') {
      deps.refusals.refuse(req, res, target, answer, checked.scan.hasBody);
      return;
    }
    deps.engine.forward(
      req,
      res,
      deps.basePath + (req.url as string),
      upstreamHeaders(deps.headers, checked, prepared),
      checked.scan.hasBody,
      deps.refusals.upstreamFailed,
    );
  }
}
