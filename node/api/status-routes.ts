/** GET /api/status: the seed's network fields, plus the head and the network's identity (chain id, genesis hash). */
import type Router from '@koa/router';
import { toChecksumAddress, type Address } from '../../protocol/address.js';
import type { Chain } from '../../chain/chain.js';
import { paramCount, presetConfig } from '../../trainer/model/config.js';
import { formatTokenRate, type NetworkStats } from '../network-stats.js';
import type { LedgerService } from '../ledger-service.js';
import type { NetworkStatus } from '../../protocol/ledger.js';

/** The network counts as active while blocks or miners' work arrive within this window. */
const ACTIVE_WITHIN_MS = 5 * 60_000;

export const NODE_VERSION = '0.1.0';

export interface StatusContext {
  networkName: string;
  ledger: LedgerService;
  stats: NetworkStats;
  coordinator?: Address;
  peers: () => number;
}

function modelParams(name: string): number | null {
  try {
    return paramCount(presetConfig(name));
  } catch {
    return null; // a genesis may name a config this build does not know; report it as unknown
  }
}

export function statusRoutes(router: Router, s: StatusContext): void {
  const chain: Chain = s.ledger.chain;
  const globalParams = modelParams(chain.spec.model);
  const targetParams = modelParams('ailo-1b');
  router.get('/api/status', (ctx) => {
    const miners = s.stats.activeParticipants();
    const lastBlockAge = Date.now() - Number(chain.head.header.timestamp);
    const latestModelVersion = chain.view().meta().latestModelVersion;
    ctx.body = {
      // This node, its peers heard from in the last minute, and miners active in the last two (see network-stats.ts).
      activeNodes: 1 + s.peers() + miners,
      activeMiners: miners,
      peers: s.peers(),
      globalHashrate: formatTokenRate(s.stats.tokensPerSecond()),
      globalParams,
      targetParams,
      globalModelVersion: Number(latestModelVersion),
      isNetworkActive: miners > 0 || (chain.height > 0n && lastBlockAge <= ACTIVE_WITHIN_MS),
      network: s.networkName,
      chainId: chain.spec.chainId.toString(),
      // With chainId, the EIP-712 domain every signature on this network is bound to (the domain's salt).
      genesisHash: s.ledger.network.genesisHash,
      model: chain.spec.model,
      head: { height: chain.height.toString(), hash: chain.head.hash, timestamp: chain.head.header.timestamp.toString() },
      pendingTransactions: s.ledger.pool.size,
      coordinator: s.coordinator ? toChecksumAddress(s.coordinator) : null,
      version: NODE_VERSION,
    } satisfies NetworkStatus;
  });
}
