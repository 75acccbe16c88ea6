/**
 * The browser miner's requests to its node, retried with exponential backoff while the node is unreachable: the
 * request throws (connection refused or reset, DNS) or a proxy answers 502, 503 or 504. Every other answer is the
 * node's and is returned at once. Each retry is announced; a stopped miner's worker is terminated, which ends it.
 */

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

/** About two minutes of retries before the miner gives up and says so. */
export const MINER_RETRY: RetryPolicy = { attempts: 8, baseMs: 500, maxMs: 30_000 };

export class NodeUnreachableError extends Error {
  override readonly name = 'NodeUnreachableError';
  constructor(readonly what: string, readonly attempts: number, readonly why: string) {
    super(`the node is unreachable (${why}) on ${what} after ${attempts} attempts; press Start Mining again once it is back`);
  }
}

export interface RetryOptions {
  /** What the request is for, as the log names it: "task", "tokens", "chunk 1a2b3c4d5e6f", "submit". */
  what: string;
  policy?: RetryPolicy;
  onRetry?: (line: string) => void;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** 0..1; spreads the waits of many miners so a node coming back is not hit by all of them at once. */
  random?: () => number;
}

const TRANSIENT = new Set([502, 503, 504]);

/** The wait before retry `attempt` (1-based): base * 2^(attempt-1), at most maxMs, times 0.75..1.25. */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * (0.75 + random / 2);
}

/** `init` may be a function, called for each attempt: a single-use body (a signed task request) is made afresh each time. */
export async function fetchWithRetry(url: string, init: RequestInit | (() => Promise<RequestInit>), o: RetryOptions): Promise<Response> {
  const policy = o.policy ?? MINER_RETRY;
  const doFetch = o.fetch ?? fetch;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    let why: string;
    let attemptInit: RequestInit | undefined;
    try {
      attemptInit = typeof init === 'function' ? await init() : init;
      const res = await doFetch(url, attemptInit);
      if (!TRANSIENT.has(res.status)) return res;
      why = `HTTP ${res.status}`;
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      if (attemptInit === undefined || attemptInit.signal?.aborted) throw err;
      why = err instanceof Error ? err.message : String(err);
    }
    if (attempt >= policy.attempts) throw new NodeUnreachableError(o.what, attempt, why);
    const wait = backoffMs(policy, attempt, (o.random ?? Math.random)());
    o.onRetry?.(`node unreachable (${why}) on ${o.what}; retry ${attempt} in ${(wait / 1000).toFixed(1)} s`);
    await sleep(wait);
  }
}
