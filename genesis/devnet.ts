/**
 * The built-in devnet: one coordinator (the node's own key, made on first start), a million ALC allocated to it,
 * the reward policy of DESIGN.md (0.1 ALC per accepted contribution, 1-10x quality, 0.05 ALC per inference share),
 * and a small model so a laptop or a browser can train it. Each data folder thus holds its own devnet.
 */
import type { Address } from '../chain/address.js';
import { randomPrivateKey, privateKeyToAddress } from '../chain/crypto/signature.js';
import { ALC, type ChainSpec } from '../chain/spec.js';
import { toHex } from '../chain/bytes.js';
import { formatGenesis, toGenesisFile, type GenesisFile } from './genesis.js';

export const DEVNET_CHAIN_ID = 41232n; // 0xA110
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
