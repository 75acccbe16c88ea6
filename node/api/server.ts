/** The node's HTTP API: a Koa app with one error shape for every failure and the ledger, chain and status routes. */
import Koa from 'koa';
import Router from '@koa/router';
import { toApiError } from './errors.js';

export function createApp(mount: (router: Router) => void, log: (line: string) => void = console.error): Koa {
  const app = new Koa();
  const router = new Router();
  mount(router);
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
