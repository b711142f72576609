import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CheckCaller, HeaderFamily, Verdict } from '../http/check/pipeline.js';
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

  answer(req: IncomingMessage, res: ServerResponse, verdict: Verdict, checked: Checked): void {
    const deps = this.deps;
    const answer = verdict.answer;
    if (answer.kind !== 'allow') {
      deps.refusals.refuse(req, res, verdict.target, answer, checked.scan.hasBody);
      return;
    }
    deps.engine.forward(
      req,
      res,
      deps.basePath + (req.url as string),
      upstreamHeaders(deps.headers, checked, verdict.prepared),
      checked.scan.hasBody,
      deps.refusals.upstreamFailed,
    );
  }
}
