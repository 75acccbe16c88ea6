/**
 * The built-in devnet: one coordinator (the node's own key, made on first start), a million ALC allocated to it,
 * the reward policy of DESIGN.md (0.1 ALC per accepted contribution, 1-10x quality, 0.05 ALC per inference share),
 * and a small model so a laptop or a browser can train it. Each data folder thus holds its own devnet.
 * With one coordinator the finality quorum (floor(2N/3)+1) is that coordinator's own vote: final blocks come at once,
 * and no fault is tolerated; a network that must survive a byzantine coordinator needs N >= 4 (README, finality).
 */
import type { Address } from '../protocol/address.js';
import { randomPrivateKey, privateKeyToAddress } from '../protocol/signature.js';
import { ALC, type ChainSpec } from '../chain/spec.js';
import { toHex } from '../protocol/bytes.js';
import { formatGenesis, toGenesisFile, type GenesisFile } from './genesis.js';

export const DEVNET_CHAIN_ID = 41232n; // 0xA110

/**
 * Bounds of the chainId `ailo genesis new` draws: above 2^32, clear of the well-known public chains (nearly all below
 * it), and at most MetaMask's limit (floor((2^53 - 39) / 2), the largest chainId whose EIP-155 v stays JS-safe).
 */
export const RANDOM_CHAIN_ID_MIN = 1n << 32n;
export const MAX_SAFE_CHAIN_ID = 4_503_599_627_370_476n;

/** A uniformly random chainId in [RANDOM_CHAIN_ID_MIN, MAX_SAFE_CHAIN_ID], from the platform's CSPRNG. */
export function randomChainId(): bigint {
  const span = MAX_SAFE_CHAIN_ID - RANDOM_CHAIN_ID_MIN + 1n;
  const limit = (1n << 64n) - ((1n << 64n) % span); // rejection keeps the draw unbiased
  for (;;) {
    const [x] = crypto.getRandomValues(new BigUint64Array(1));
    if (x! < limit) return RANDOM_CHAIN_ID_MIN + (x! % span);
  }
}
export const DEVNET_MODEL = 'ailo-tiny';

export const DEFAULT_REWARDS: ChainSpec['rewards'] = {
  contributionBase: ALC / 10n,
  minQuality: 1000,
  maxQuality: 10_000,
  inferenceShare: ALC / 20n,
  maxStaleness: 4n,
};

export interface NewGenesisOptions {
  name: string;
  chainId: bigint;
  coordinators: Address[];
  alloc?: Map<Address, bigint>;
  blockPeriodMs?: number;
  outOfTurnDelayMs?: number;
  timestamp?: bigint;
  model?: string;
}

export function genesisFor(o: NewGenesisOptions): GenesisFile {
  const spec: ChainSpec = {
    chainId: o.chainId,
    coordinators: o.coordinators,
    alloc: o.alloc ?? new Map(o.coordinators.map((c) => [c, 1_000_000n * ALC])),
    blockPeriodMs: o.blockPeriodMs ?? 1000,
    outOfTurnDelayMs: o.outOfTurnDelayMs ?? 500,
    genesisTimestamp: o.timestamp ?? 0n,
    rewards: DEFAULT_REWARDS,
    model: o.model ?? DEVNET_MODEL,
    genesisModelDigest: toHex(new Uint8Array(32)),
  };
  return toGenesisFile(o.name, spec);
}

export function devnetGenesis(coordinator: Address, timestamp: bigint): GenesisFile {
  return genesisFor({ name: 'ailo-devnet', chainId: DEVNET_CHAIN_ID, coordinators: [coordinator], timestamp });
}

/** A new network with fresh coordinator keys (what `ailo genesis new` writes). */
export function newNetwork(o: Omit<NewGenesisOptions, 'coordinators'> & { coordinatorCount: number }): { genesis: string; keys: Uint8Array[] } {
  const keys = Array.from({ length: o.coordinatorCount }, () => randomPrivateKey());
  const file = genesisFor({ ...o, coordinators: keys.map(privateKeyToAddress) });
  return { genesis: formatGenesis(file), keys };
}
