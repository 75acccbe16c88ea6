/**
 * Prometheus metrics for /metrics, with prom-client (text exposition format 0.0.4): chain head, peers, pool, blocks
 * and transactions applied (verification and sync rates are rate() of these counters), sync and reorg counts, the
 * model version and the open training round, and prom-client's default process and Node.js metrics (CPU, memory,
 * event-loop lag, GC, handles) under their standard names. Each node has its own registry (several nodes may share a
 * process in tests); values are read when scraped.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Chain } from '../chain/chain.js';
import type { LedgerService } from './ledger-service.js';
import type { PeerNetwork } from './p2p/network.js';
import type { RoundStatus } from '../protocol/ledger.js';

/** What the metrics read at scrape time, besides the chain. */
export interface MetricSources {
  ledger: LedgerService;
  network: () => PeerNetwork | undefined;
  round?: () => RoundStatus | undefined;
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;

  constructor(
    private readonly chain: Chain,
    private readonly o: MetricSources,
  ) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    const started = Date.now();
    /** A gauge whose value is read at scrape time; `undefined` leaves it out of the scrape. */
    const gauge = (name: string, help: string, read: () => number | bigint | undefined): void => {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          const v = read();
          this.reset();
          if (v !== undefined) this.set(Number(v));
        },
      });
    };
    /** A counter kept elsewhere (the peer network's), read at scrape time. */
    const counted = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    gauge('ailo_head_height', 'Height of the head block.', () => chain.height);
    gauge('ailo_head_timestamp_seconds', 'Timestamp of the head block.', () => Number(chain.head.header.timestamp) / 1000);
    gauge('ailo_chain_weight', 'Fork-choice weight of the canonical chain.', () => chain.totalWeight);
    gauge('ailo_peers', 'Peers that answered within the last minute.', () => o.network()?.peers.reachable(60_000) ?? 0);
    gauge('ailo_peers_known', 'Peers known, banned ones included.', () => o.network()?.peers.list().length ?? 0);
    gauge('ailo_txpool_pending', 'Transactions waiting for a block.', () => o.ledger.pool.size);
    const blocks = new Counter({
      name: 'ailo_blocks_applied_total',
      help: 'Blocks verified and committed since start (sealed here or received).',
      registers: [r],
    });
    const txs = new Counter({ name: 'ailo_txs_applied_total', help: 'Transactions verified and committed since start.', registers: [r] });
    const rolledBack = new Counter({
      name: 'ailo_blocks_rolled_back_total',
      help: 'Blocks taken off the canonical chain by reorgs.',
      registers: [r],
    });
    chain.onBlock((block) => {
      blocks.inc();
      txs.inc(block.txs.length);
    });
    chain.onRollback((removed) => rolledBack.inc(removed.length));
    const c = () => o.network()?.counters;
    counted('ailo_blocks_from_peers_total', 'Blocks imported from peers (gossip and sync).', () => c()?.blocksImported ?? 0);
    counted('ailo_txs_from_peers_total', 'Transactions admitted from peer gossip.', () => c()?.txsImported ?? 0);
    counted('ailo_syncs_total', 'Sync runs started towards a heavier peer tip.', () => c()?.syncs ?? 0);
    counted('ailo_reorgs_total', 'Reorgs to a heavier fork.', () => c()?.reorgs ?? 0);
    counted('ailo_peer_rejections_total', 'Invalid blocks or transactions refused from peers.', () => c()?.rejectedFromPeers ?? 0);
    gauge('ailo_model_version', 'Latest published model version on the ledger.', () => chain.view().meta().latestModelVersion);
    const round = (): RoundStatus | undefined => o.round?.();
    gauge('ailo_round_model_version', 'Model version the open training round trains from.', () => round()?.version);
    gauge('ailo_round_accepted', 'Updates accepted in the open round.', () => round()?.accepted);
    gauge('ailo_round_size', 'Accepted updates that close a round.', () => round()?.roundSize);
    gauge('ailo_round_deadline_seconds', 'When the open round closes at the latest (unix time).', () => {
      const d = round()?.deadline;
      return d === undefined ? undefined : Math.round(d / 1000);
    });
    gauge('ailo_round_open_tasks', 'Tasks handed out and not yet submitted or expired.', () => round()?.openTasks);
    gauge('ailo_uptime_seconds', 'Seconds since the node started.', () => Math.round((Date.now() - started) / 1000));
  }

  /** The scrape: every metric in the text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
