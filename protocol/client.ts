/**
 * The one HTTP client of a node's API (browser-safe: `fetch` and timers only), used by the native miner, the browser
 * miner's worker, the wallet, the miner GUI page, `ailo` commands, the red team and the peer code (node to node). Refusals become `NodeError`s with the node's code.
 *
 * Retries: a request is retried with exponential backoff (base * 2^(n-1), capped, times 0.75..1.25 so that many
 * clients do not come back at once) while the node does not answer (connection refused or reset, DNS) or a gateway
 * or the node says it is unavailable for now (502, 503, 504). Every other status is the node's verdict and is
 * returned at once: 4xx refusals (429 included: it names the limit, e.g. TOO_MANY_TASKS, and the caller decides how
 * to wait) and 500 (a node fault that repeating the request does not fix). When the last attempt's 502/503/504 came
 * from the node itself (a body naming its code, e.g. 503 VERIFIER_BUSY), that NodeError is thrown, not UNREACHABLE:
 * the node answered "not now", and says why.
 */
import { NodeError, nodeErrorOf } from './errors.js';

export interface RetryPolicy {
  /** Tries in all (1: no retries). */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

/** About two minutes of retries before a miner gives up and says so. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 500, maxMs: 30_000 };
/** One try: for requests a person is waiting on (the wallet), who sees the error and can try again. */
export const NO_RETRY: RetryPolicy = { attempts: 1, baseMs: 0, maxMs: 0 };

/** Statuses that mean "not now" rather than "no": a proxy or gateway without the node, or the node busy. */
export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** The wait before retry `attempt` (1-based), in ms: base * 2^(attempt-1), at most maxMs, times 0.75..1.25. */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * (0.75 + random / 2);
}

/** One retry about to happen; `line` is the sentence the miners log. */
export interface RetryEvent {
  what: string;
  attempt: number;
  waitMs: number;
  why: string;
  line: string;
}

export interface ClientOptions {
  retry?: RetryPolicy;
  /** The caller's stop: ends waits and requests with NodeError ABORTED. */
  signal?: AbortSignal;
  onRetry?: (e: RetryEvent) => void;
  /** Headers added to every request (e.g. a session's bearer token), read afresh each time. */
  headers?: () => Record<string, string>;
  fetch?: typeof fetch;
  /** Waits `ms` (ends early when `signal` aborts); tests pass a fake. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** 0..1, for the backoff's spread. */
  random?: () => number;
}

export interface CallOptions {
  /** This request's retry policy, instead of the client's. */
  retry?: RetryPolicy;
  /** What the request is for, as retries and errors name it ("task", "chunk 1a2b3c4d5e6f"); default the path. */
  what?: string;
  /**
   * Stands in for the client's stop signal: a request whose answer is worth waiting for after a stop. Without
   * either, the init's own `signal` is used.
   */
  signal?: AbortSignal;
  /**
   * Return a 502/503/504 as the answer instead of retrying it or throwing UNREACHABLE: for callers that judge every
   * status themselves (the red team, which records what the node answered).
   */
  transientAsAnswer?: boolean;
  /** How long one attempt may wait for the answer, ms; past it the attempt counts as unanswered (retried, or UNREACHABLE). */
  timeoutMs?: number;
  /** This request's fetch, instead of the client's (a submission's waits longer: trainer/miner/patient-fetch.ts). */
  fetch?: typeof fetch;
}

/** A request's init, or a function called for each attempt (a signed single-use body is signed afresh each time). */
export type RequestInitOrMaker = RequestInit | (() => Promise<RequestInit>);

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

const describe = (err: unknown): string => {
  const e = err as { message?: string; cause?: { message?: string } };
  return e?.cause?.message ?? e?.message ?? String(err);
};

export class NodeClient {
  /** `baseUrl`: the node, e.g. http://127.0.0.1:8645 ('' in a page the node serves: its own origin). */
  constructor(
    readonly baseUrl: string,
    private readonly o: ClientOptions = {},
  ) {}

  url(path: string): string {
    return this.baseUrl + path;
  }

  /**
   * The response of the first attempt that was not transient (see the module comment), whatever its status. Throws
   * NodeError UNREACHABLE after the policy's attempts (or the node's own 502/503/504 NodeError, when the last attempt
   * got one), ABORTED when stopped; an error from making `init` is thrown as it is, untried.
   */
  async request(path: string, init: RequestInitOrMaker = {}, c: CallOptions = {}): Promise<Response> {
    const policy = c.retry ?? this.o.retry ?? DEFAULT_RETRY;
    const what = c.what ?? path;
    let signal = c.signal ?? this.o.signal;
    const doFetch = c.fetch ?? this.o.fetch ?? fetch;
    const aborted = (cause?: unknown): NodeError => new NodeError(0, 'ABORTED', `${what}: stopped`, undefined, { cause });
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw aborted();
      const made = typeof init === 'function' ? await init() : init;
      signal ??= made.signal ?? undefined;
      const extra = this.o.headers?.();
      let why: string;
      let cause: unknown;
      let busy: NodeError | undefined;
      const timeout = c.timeoutMs !== undefined ? AbortSignal.timeout(c.timeoutMs) : undefined;
      try {
        const headers = extra ? { ...extra, ...(made.headers as Record<string, string> | undefined) } : made.headers;
        const res = await doFetch(this.url(path), {
          ...made,
          headers,
          signal: timeout ? (signal ? AbortSignal.any([signal, timeout]) : timeout) : signal,
        });
        if (!TRANSIENT_STATUSES.has(res.status) || c.transientAsAnswer) return res;
        // A node's own "not now" names why (VERIFIER_BUSY, POOL_FULL...); a gateway's page does not.
        const answer = await nodeErrorOf(res, what);
        if (answer.code !== `HTTP_${res.status}`) busy = answer;
        why = busy ? `${busy.code}` : `HTTP ${res.status}`;
      } catch (err) {
        if (signal?.aborted) throw aborted(err);
        why = timeout?.aborted ? `no answer within ${c.timeoutMs! / 1000} s` : describe(err);
        cause = err;
      }
      if (attempt >= policy.attempts) {
        if (busy) {
          const times = attempt === 1 ? '' : ` (answered so ${attempt} times)`;
          throw new NodeError(busy.status, busy.code, `${busy.message}${times}`, busy.retryAfterSeconds);
        }
        throw new NodeError(
          0,
          'UNREACHABLE',
          `the node is unreachable (${why}) on ${what} after ${attempt} attempt${attempt === 1 ? '' : 's'}`,
          undefined,
          { cause },
        );
      }
      // A node's own "not now" says when to come back (VERIFIER_BUSY: 30 s): no sooner, up to the policy's longest
      // wait, so a busy node is not sent a large body again every few seconds.
      const retryAfterMs = Math.min((busy?.retryAfterSeconds ?? 0) * 1000, policy.maxMs);
      const waitMs = Math.max(backoffMs(policy, attempt, (this.o.random ?? Math.random)()), retryAfterMs);
      this.o.onRetry?.({
        what,
        attempt,
        waitMs,
        why,
        line: `node ${busy ? 'busy' : 'unreachable'} (${why}) on ${what}; retry ${attempt} in ${(waitMs / 1000).toFixed(1)} s`,
      });
      await (this.o.sleep ?? sleepFor)(waitMs, signal);
    }
  }

  /** The JSON body of a success; a refusal throws its NodeError. */
  async json<T>(path: string, init: RequestInitOrMaker = {}, c: CallOptions = {}): Promise<T> {
    const res = await this.request(path, init, c);
    if (!res.ok) throw await nodeErrorOf(res, c.what ?? path);
    return (await res.json()) as T;
  }

  /** POSTs `body` as JSON; a function body is called for each attempt, so that no retry repeats a single-use body. */
  postJson<T>(path: string, body: unknown, c: CallOptions = {}): Promise<T> {
    const init = (b: unknown): RequestInit => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(b),
    });
    return this.json<T>(path, typeof body === 'function' ? async () => init(await (body as () => Promise<unknown>)()) : init(body), c);
  }

  /** The bytes of a success (with its status and headers); a refusal throws its NodeError. */
  async bytes(
    path: string,
    headers: Record<string, string> = {},
    c: CallOptions = {},
  ): Promise<{ status: number; bytes: Uint8Array; headers: Headers }> {
    const res = await this.request(path, { headers }, c);
    if (!res.ok) throw await nodeErrorOf(res, c.what ?? path);
    return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
  }
}
