import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CheckCaller, CheckPipeline, HeaderFamily, Verdict } from '../http/check/pipeline.js';
import type { Checked } from './admission.js';
import type { ProxyEngine } from './engine.js';
import type { RequestRefusals } from './refusals.js';
import { stripCredentials, type UpstreamHeaderDeps, upstreamHeaders } from './upstream-headers.js';

export interface RequestPathDeps {
  family: HeaderFamily;
  pipeline: Pick<CheckPipeline, 'challenge'>;
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
      const challenge = () => deps.pipeline.challenge(req, verdict);
      deps.refusals.refuse(req, res, verdict, answer, checked.scan.hasBody, challenge);
      return;
    }
    if (verdict.credential !== null) stripCredentials(checked, verdict.credential.strip);
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
