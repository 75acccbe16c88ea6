/** Operations routes: Prometheus metrics, liveness and readiness. */
import type Router from '@koa/router';
import type { Chain } from '../../chain/chain.js';
import type { LedgerService } from '../ledger-service.js';
import type { NodeMetrics } from '../metrics.js';
import type { RoundStatus } from '../../protocol/ledger.js';
import type { PeerNetwork } from '../p2p/network.js';

export function opsRoutes(router: Router, o: { chain: Chain; ledger: LedgerService; metrics: NodeMetrics; network: () => PeerNetwork | undefined; round?: () => RoundStatus }): void {
  router.get('/metrics', (ctx) => {
    ctx.type = 'text/plain; version=0.0.4';
    ctx.body = o.metrics.render(o.ledger, o.network(), o.round?.());
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
