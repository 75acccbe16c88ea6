/**
 * The miner's view of a node's HTTP API, with retries: a node that is down, restarting or busy (network errors,
 * 5xx, 429) is retried with exponential backoff; any other 4xx is the node's verdict and is returned at once.
 */
export interface ApiErrorBody {
  code: string;
  message: string;
}

export class NodeRequestError extends Error {
  override readonly name = 'NodeRequestError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 500, maxMs: 30_000 };

function abortable(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class NodeClient {
  constructor(
    readonly baseUrl: string,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly signal?: AbortSignal,
    private readonly onRetry: (what: string, attempt: number, waitMs: number, why: string) => void = () => {},
  ) {}

  /**
   * A request with retries; returns the response of the first attempt that the node answered with < 500 (but 429).
   * `init` may be a function, called for each attempt (a signed single-use body is signed afresh each time).
   */
  async request(path: string, init: RequestInit | (() => Promise<RequestInit>) = {}, o: { signal?: AbortSignal } = {}): Promise<Response> {
    let last = '';
    // `o.signal` stands in for the stop signal: a request whose answer is worth waiting for after a stop.
    const signal = o.signal ?? this.signal;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new NodeRequestError(0, 'ABORTED', 'stopped');
      try {
        const res = await fetch(new URL(path, this.baseUrl), { ...(typeof init === 'function' ? await init() : init), signal });
        if (res.status < 500 && res.status !== 429) return res;
        last = `HTTP ${res.status}`;
        await res.arrayBuffer().catch(() => undefined);
      } catch (err) {
        if (signal?.aborted) throw new NodeRequestError(0, 'ABORTED', 'stopped');
        last = (err as Error).cause ? String(((err as Error).cause as Error).message ?? (err as Error).cause) : (err as Error).message;
      }
      if (attempt >= this.retry.attempts) throw new NodeRequestError(0, 'UNREACHABLE', `${this.baseUrl}${path}: ${last} after ${attempt} attempts`);
      const wait = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2);
      this.onRetry(path, attempt, wait, last);
      await abortable(wait, this.signal);
    }
  }

  async json<T>(path: string, init: RequestInit | (() => Promise<RequestInit>) = {}, o: { signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.request(path, init, o);
    const body = (await res.json().catch(() => ({}))) as { error?: ApiErrorBody };
    if (!res.ok) throw new NodeRequestError(res.status, body.error?.code ?? `HTTP_${res.status}`, body.error?.message ?? res.statusText);
    return body as T;
  }

  async bytes(path: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Uint8Array; headers: Headers }> {
    const res = await this.request(path, { headers });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) {
      let error: ApiErrorBody | undefined;
      try {
        error = (JSON.parse(new TextDecoder().decode(bytes)) as { error?: ApiErrorBody }).error;
      } catch { /* not JSON */ }
      throw new NodeRequestError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? res.statusText);
    }
    return { status: res.status, bytes, headers: res.headers };
  }

  /**
   * Gives a task back (DELETE /api/task/:id) so it no longer holds one of the wallet's task slots. Meant for a miner
   * that was just stopped, so it ignores the stop signal: one try with a short timeout. Never throws; says what happened.
   */
  async abandonTask(taskId: string, wallet: string, timeoutMs = 5_000): Promise<string> {
    try {
      const res = await fetch(new URL(`/api/task/${taskId}?wallet=${wallet}`, this.baseUrl), { method: 'DELETE', signal: AbortSignal.timeout(timeoutMs) });
      if (res.ok) return 'abandoned';
      const body = (await res.json().catch(() => ({}))) as { error?: ApiErrorBody };
      return `not abandoned: ${body.error?.code ?? `HTTP_${res.status}`}: ${body.error?.message ?? res.statusText}`;
    } catch (err) {
      return `not abandoned: ${(err as Error).message}`;
    }
  }

  /** POSTs `body` as JSON; a function body is called for each attempt, so that no retry repeats a single-use body. */
  postJson<T>(path: string, body: unknown): Promise<T> {
    const init = (b: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
    return this.json<T>(path, typeof body === 'function' ? async () => init(await (body as () => Promise<unknown>)()) : init(body));
  }
}
