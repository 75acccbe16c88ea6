/** The node's HTTP API: a Koa app with one error shape for every failure and the ledger, chain and status routes. */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import cors from '@koa/cors';
import Koa from 'koa';
import Router from '@koa/router';
import { toApiError } from './errors.js';

/**
 * The routes any web page may call (CORS, https://fetch.spec.whatwg.org/#http-cors-protocol): what a browser miner
 * loaded from one node uses at another coordinator when its own node stops answering (rounds, tasks, submissions,
 * model chunks, the genesis and the ledger record it checks), plus the other public reads. They carry no ambient
 * credential (no cookies; writes are signed by the wallet), so answering any origin gives a page nothing curl does not.
 * Accounts (`/api/account`, bearer sessions), transfers and the peer protocol stay same-origin.
 */
export const CROSS_ORIGIN_ROUTES = /^\/api\/(round|task|submit_gradient|model|update|status|chain|ledger\/(tx|account|history))(\/|$)/;

const crossOrigin = cors({
  origin: '*',
  credentials: false,
  allowMethods: ['GET', 'HEAD', 'POST', 'DELETE'],
  allowHeaders: ['content-type', 'range', 'if-none-match'],
  // NodeError reads Retry-After; a chunk download resumes by Content-Range.
  exposeHeaders: ['retry-after', 'content-range', 'accept-ranges', 'etag'],
  maxAge: 600,
});

export function createApp(mount: (router: Router) => void, log: (line: string) => void = console.error): Koa {
  const app = new Koa();
  const router = new Router();
  mount(router);
  app.use((ctx, next) => (CROSS_ORIGIN_ROUTES.test(ctx.path) ? crossOrigin(ctx, next) : next()));
  app.use(async (ctx, next) => {
    try {
      await next();
      const body = ctx.body as { error?: unknown } | undefined;
      if (ctx.status >= 400 && (typeof body !== 'object' || body === null || body.error === undefined)) {
        const status = ctx.status;
        const code = status === 404 ? 'NOT_FOUND' : status === 405 ? 'METHOD_NOT_ALLOWED' : `HTTP_${status}`;
        const message = status === 404 ? `no route ${ctx.method} ${ctx.path}` : `${ctx.method} is not allowed on ${ctx.path}`;
        ctx.status = status;
        ctx.body = { error: { code, message } };
      }
    } catch (err) {
      const apiError = toApiError(err);
      if (apiError.status >= 500 && apiError.code === 'INTERNAL') log(`${ctx.method} ${ctx.path}: ${(err as Error)?.stack ?? String(err)}`);
      ctx.status = apiError.status;
      ctx.set(apiError.headers);
      ctx.body = { error: { code: apiError.code, message: apiError.message } };
    }
  });
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  // Koa emits errors it could not turn into a response; they must never crash the node. A client hanging up
  // mid-response (a closed tab, an aborted download) is normal and not logged.
  app.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
    log(`http: ${err.message}`);
  });
  return app;
}

/** Statuses for the HTTP parser's errors that are not plain malformed framing (Node's llhttp error codes). */
const CLIENT_ERROR_STATUS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'the request headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'the request did not arrive in time'],
  HPE_HEADERS_TIMEOUT: [408, 'the request headers did not arrive in time'],
};

/**
 * Answers requests the HTTP parser refuses before Koa sees them (a negative or duplicate Content-Length, a bad
 * chunk size, a malformed request line) in the API's one error shape, `{ error: { code, message } }` (Node's default
 * is a bare 400), and closes the connection; a client that hung up gets nothing and is not logged.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code = err.code ?? 'HPE_INVALID';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, what] = CLIENT_ERROR_STATUS[code] ?? [400, 'the request is not valid HTTP/1.1'];
    const body = JSON.stringify({
      error: {
        code: 'BAD_HTTP_REQUEST',
        message: `${what} (${code}: ${err.message}); send one valid Content-Length or a well-formed chunked body`,
      },
    });
    socket.end(
      `HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : status === 408 ? 'Request Timeout' : 'Request Header Fields Too Large'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
