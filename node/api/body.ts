/** Reads a JSON request body with a size limit, so no request can make the node buffer without bound. */
import type { Context } from 'koa';
import { ApiError, badRequest } from './errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

export async function readJsonBody(ctx: Context, limit = MAX_BODY_BYTES): Promise<Record<string, unknown>> {
  const type = ctx.get('content-type');
  if (!/^application\/json\b/i.test(type)) {
    throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `send the body as application/json (got "${type || 'no content type'}")`);
  }
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit) throw new ApiError(413, 'BODY_TOO_LARGE', `body is ${declared} bytes; the limit is ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.destroy();
      throw new ApiError(413, 'BODY_TOO_LARGE', `body is over the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw badRequest('BAD_JSON', `body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('BAD_JSON', 'body must be a JSON object');
  return value as Record<string, unknown>;
}
