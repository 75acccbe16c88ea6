/**
 * Training rounds on a follower: every coordinator runs rounds (round-schedule.ts), a follower runs none and
 * forwards the round routes, unchanged, to a live coordinator: to the peer URL whose handshake proved the
 * coordinator's node id (its genesis address), never to a URL some answer or header merely names.
 */
import { NO_RETRY, NodeClient } from '../../protocol/client.js';
import { ANSWER_WAIT_MS, patientFetch } from '../../trainer/miner/patient-fetch.js';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { readRawBody } from '../api/body.js';
import { ApiError } from '../api/errors.js';
import type { PeerNetwork } from './network.js';
import type { RoundSchedule } from '../federation/round-schedule.js';

/** Large enough for a compressed update of the biggest config (about 19 MB for ailo-1b). */
const MAX_FORWARD_BYTES = 64 * 1024 * 1024;
const FORWARD_TIMEOUT_MS = 120_000;
const submissionFetch = patientFetch();
const FORWARDED_HEADERS = ['content-type', 'content-length', 'etag', 'cache-control', 'content-range', 'accept-ranges', 'retry-after'];

export class RoundForwarder {
  constructor(
    private readonly schedule: RoundSchedule,
    private readonly network: () => PeerNetwork,
  ) {}

  /**
   * The URL where a coordinator proved its id in a handshake: the first live one in genesis order (the same one
   * while it stays live, so a miner's task and its submission reach the coordinator that issued the task), else the
   * first proven one.
   */
  private async coordinatorUrl(): Promise<string> {
    const pick = (): string | undefined => {
      const peers = this.network().peers;
      for (const c of this.schedule.live()) if (peers.urlOf(c)) return peers.urlOf(c);
      for (const c of this.schedule.coordinators) if (peers.urlOf(c)) return peers.urlOf(c);
      return undefined;
    };
    let url = pick();
    if (!url) {
      await this.network().proveConfigured(); // just started: the first handshakes may still be under way
      url = pick();
    }
    if (url) return url;
    throw new ApiError(
      503,
      'NO_ROUND_COORDINATOR',
      `training rounds run on the coordinators (${this.schedule.coordinators.join(', ')}), none of which this node's peers has proven to be right now; retry later or ask one directly`,
      { 'Retry-After': '5' },
    );
  }

  async forward(ctx: Context): Promise<void> {
    const target = await this.coordinatorUrl();
    const body =
      ctx.method === 'GET' || ctx.method === 'HEAD' || ctx.method === 'DELETE'
        ? undefined
        : await readRawBody(ctx, {
            limit: MAX_FORWARD_BYTES,
            type: /^application\/(json|octet-stream|vnd\.ailo\.update)\b/i,
            typeName: 'application/json or application/octet-stream',
          });
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'range', 'if-none-match']) {
      const v = ctx.get(h);
      if (v) headers[h] = v;
    }
    let res: Response;
    try {
      // Every status is the coordinator's answer, passed on as it is; one try, the miner's client retries.
      // A submission is answered once the coordinator has verified it: minutes on a large model, so it waits as the
      // miner does (trainer/miner/patient-fetch.ts), or the miner would send it again while the first is being verified.
      const submission = ctx.path === '/api/submit_gradient';
      res = await new NodeClient(target).request(
        ctx.url,
        { method: ctx.method, headers, body: body ? new Uint8Array(body) : undefined },
        {
          retry: NO_RETRY,
          transientAsAnswer: true,
          timeoutMs: submission ? ANSWER_WAIT_MS : FORWARD_TIMEOUT_MS,
          fetch: submission ? submissionFetch : undefined,
          what: 'the forwarded request',
        },
      );
    } catch (err) {
      throw new ApiError(
        502,
        'ROUND_COORDINATOR_UNREACHABLE',
        `could not reach the round coordinator at ${target}: ${(err as Error).message}`,
      );
    }
    ctx.status = res.status;
    for (const h of FORWARDED_HEADERS) {
      const v = res.headers.get(h);
      if (v && h !== 'content-length') ctx.set(h, v);
    }
    ctx.set('x-ailo-forwarded-to', target);
    const bytes = Buffer.from(await res.arrayBuffer());
    // A refusal goes on as the object it is: the app fills in an error shape for any 4xx body it cannot read as one.
    ctx.body = res.status >= 400 && /^application\/json\b/i.test(res.headers.get('content-type') ?? '') ? parseJsonOr(bytes) : bytes;
  }
}

function parseJsonOr(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return bytes;
  }
}

/** The federation routes, answered by forwarding (see RoundForwarder). */
export function forwardedRoundRoutes(router: Router, forwarder: RoundForwarder): void {
  const forward = (ctx: Context): Promise<void> => forwarder.forward(ctx);
  router.get('/api/model', forward);
  router.get('/api/model/chunk/:name', forward);
  router.post('/api/task', forward);
  router.get('/api/task/:id', forward);
  router.delete('/api/task/:id', forward);
  router.get('/api/task/:id/tokens', forward);
  router.post('/api/submit_gradient', forward);
  router.get('/api/round', forward);
  router.get('/api/update/:digest', forward);
}
