/**
 * The wire's errors (browser-safe). Every refusal a node, or a miner's GUI server, answers is `{ error: { code,
 * message } }` with an HTTP status; clients turn it into a `NodeError`. All errors of the protocol layer extend
 * `AiloError`, which keeps the cause chain (ES2022 `Error.cause`), in the manner of viem's `BaseError`.
 */

/** The body of every refusal: a stable code a program acts on, and a message that says what to do. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** The project's base error: a stable `code`, a message for people, and the error that caused it (if any). */
export class AiloError extends Error {
  override name = 'AiloError';

  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** This error, then its cause, its cause's cause, and so on (at most 16 deep: a cycle ends the walk). */
  chain(): unknown[] {
    const out: unknown[] = [];
    for (let e: unknown = this; e !== undefined && out.length < 16 && !out.includes(e); e = (e as { cause?: unknown }).cause) out.push(e);
    return out;
  }

  /** The first error in the chain that `test` accepts (e.g. `err.walk((e) => e instanceof TypeError)`). */
  walk(test: (e: unknown) => boolean): unknown {
    return this.chain().find(test);
  }
}

/**
 * A node's answer that is not a success, or no answer at all. `status` is the HTTP status, or 0 when the node did not
 * answer: `code` is then `UNREACHABLE` (after the client's retries; `cause` holds the last network error) or
 * `ABORTED` (the caller stopped). `retryAfterSeconds` is the node's `Retry-After`, when it sent one.
 */
export class NodeError extends AiloError {
  override name = 'NodeError';

  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  /** True when the node gave no answer (unreachable or aborted), as opposed to a refusal it answered. */
  get unanswered(): boolean {
    return this.status === 0;
  }
}

/** The `NodeError` for a response that is not a success, from its `{ error }` body when it has one. */
export async function nodeErrorOf(res: Response, what: string): Promise<NodeError> {
  const text = await res.text().catch(() => '');
  let body: Partial<ErrorBody> | undefined;
  try {
    body = JSON.parse(text) as Partial<ErrorBody>;
  } catch {
    // not JSON: a proxy's page, or nothing
  }
  const retry = Number(res.headers.get('retry-after'));
  return new NodeError(
    res.status,
    body?.error?.code ?? `HTTP_${res.status}`,
    body?.error?.message ?? `${what}: the node answered ${res.status} ${res.statusText}`.trim(),
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}
