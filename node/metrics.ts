/**
 * Prometheus metrics (text exposition format 0.0.4) for /metrics: chain head, peers, pool, blocks and transactions
 * applied (verification and sync rates are rate() of these counters), sync and reorg counts, the model version and
 * the open training round.
 */
import type { Chain } from '../chain/chain.js';
import type { LedgerService } from './ledger-service.js';
import type { PeerNetwork } from './p2p/network.js';
import type { RoundStatus } from '../protocol/ledger.js';


export class NodeMetrics {
  blocksApplied = 0;
  txsApplied = 0;
  rolledBack = 0;
  private readonly started = Date.now();

  constructor(private readonly chain: Chain) {
    chain.onBlock((block) => {
      this.blocksApplied++;
      this.txsApplied += block.txs.length;
    });
    chain.onRollback((removed) => {
      this.rolledBack += removed.length;
    });
  }

  render(ledger: LedgerService, network: PeerNetwork | undefined, round?: RoundStatus): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number | bigint): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    const c = network?.counters;
    metric('ailo_head_height', 'gauge', 'Height of the head block.', this.chain.height);
    metric('ailo_head_timestamp_seconds', 'gauge', 'Timestamp of the head block.', Number(this.chain.head.header.timestamp) / 1000);
    metric('ailo_chain_weight', 'gauge', 'Fork-choice weight of the canonical chain.', this.chain.totalWeight);
    metric('ailo_peers', 'gauge', 'Peers that answered within the last minute.', network?.peers.reachable(60_000) ?? 0);
    metric('ailo_peers_known', 'gauge', 'Peers known, banned ones included.', network?.peers.list().length ?? 0);
    metric('ailo_txpool_pending', 'gauge', 'Transactions waiting for a block.', ledger.pool.size);
    metric('ailo_blocks_applied_total', 'counter', 'Blocks verified and committed since start (sealed here or received).', this.blocksApplied);
    metric('ailo_txs_applied_total', 'counter', 'Transactions verified and committed since start.', this.txsApplied);
    metric('ailo_blocks_rolled_back_total', 'counter', 'Blocks taken off the canonical chain by reorgs.', this.rolledBack);
    metric('ailo_blocks_from_peers_total', 'counter', 'Blocks imported from peers (gossip and sync).', c?.blocksImported ?? 0);
    metric('ailo_txs_from_peers_total', 'counter', 'Transactions admitted from peer gossip.', c?.txsImported ?? 0);
    metric('ailo_syncs_total', 'counter', 'Sync runs started towards a heavier peer tip.', c?.syncs ?? 0);
    metric('ailo_reorgs_total', 'counter', 'Reorgs to a heavier fork.', c?.reorgs ?? 0);
    metric('ailo_peer_rejections_total', 'counter', 'Invalid blocks or transactions refused from peers.', c?.rejectedFromPeers ?? 0);
    metric('ailo_model_version', 'gauge', 'Latest published model version on the ledger.', this.chain.view().meta().latestModelVersion);
    if (round) {
      metric('ailo_round_model_version', 'gauge', 'Model version the open training round trains from.', round.version);
      metric('ailo_round_accepted', 'gauge', 'Updates accepted in the open round.', round.accepted);
      metric('ailo_round_size', 'gauge', 'Accepted updates that close a round.', round.roundSize);
      metric('ailo_round_deadline_seconds', 'gauge', 'When the open round closes at the latest (unix time).', Math.round(round.deadline / 1000));
      metric('ailo_round_open_tasks', 'gauge', 'Tasks handed out and not yet submitted or expired.', round.openTasks);
    }
    metric('ailo_uptime_seconds', 'gauge', 'Seconds since the node started.', Math.round((Date.now() - this.started) / 1000));
    return lines.join('\n') + '\n';
  }
}
