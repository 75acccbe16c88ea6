/** Operations routes: Prometheus metrics, liveness and readiness. */
import type Router from '@koa/router';
import type { Chain } from '../../chain/chain.js';
import type { NodeMetrics } from '../metrics.js';
import type { PeerNetwork } from '../p2p/network.js';

export function opsRoutes(router: Router, o: { chain: Chain; metrics: NodeMetrics; network: () => PeerNetwork | undefined }): void {
  router.get('/metrics', async (ctx) => {
    ctx.body = await o.metrics.render();
    ctx.type = o.metrics.contentType;
  });

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok', height: o.chain.height.toString() };
  });

  // Ready once the node is not catching up with a peer; a lone node is always ready.
  router.get('/readyz', (ctx) => {
    const syncing = o.network()?.isSyncing ?? false;
    ctx.status = syncing ? 503 : 200;
    ctx.body = { status: syncing ? 'syncing' : 'ready', height: o.chain.height.toString() };
  });
}
