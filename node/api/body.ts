/** Reads request bodies with a size limit, so no request can make the node buffer without bound. */
import type { Context } from 'koa';
import { ApiError, badRequest } from './errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The raw body, refused with 415 unless its content type matches `type` (described as `typeName` in the error)
 * and with 413 once it passes `limit` bytes (declared or actually sent).
 */
export async function readRawBody(ctx: Context, o: { limit: number; type: RegExp; typeName: string; what?: string }): Promise<Uint8Array> {
  const what = o.what ?? 'body';
  const type = ctx.get('content-type');
  if (!o.type.test(type))
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `send the ${what} as ${o.typeName} (got "${type || 'no content type'}")`);
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > o.limit) throw new ApiError(413, 'BODY_TOO_LARGE', `${what} is ${declared} bytes; the limit is ${o.limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > o.limit) {
      ctx.req.destroy();
      throw new ApiError(413, 'BODY_TOO_LARGE', `${what} is over the limit of ${o.limit} bytes`);
    }
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

export async function readJsonBody(ctx: Context, limit = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const raw = await readRawBody(ctx, { limit, type: /^application\/json\b/i, typeName: 'application/json' });
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch (err) {
    throw badRequest('BAD_JSON', `body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('BAD_JSON', 'body must be a JSON object');
  return value as Record<string, unknown>;
}
