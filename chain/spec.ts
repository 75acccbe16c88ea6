/** The chain's fixed parameters, read once from its genesis (see genesis/). */
import type { Address } from '../protocol/address.js';

export interface RewardPolicy {
  /** Base units paid per accepted contribution at a 1x multiplier (0.1 ALC). */
  contributionBase: bigint;
  /** Bounds of the quality multiplier, in thousandths (1000 = 1x, 10000 = 10x). */
  minQuality: number;
  maxQuality: number;
  /** Base units paid per inference share (0.05 ALC). */
  inferenceShare: bigint;
  /** How many versions behind its parent a contribution may be and still be aggregated. */
  maxStaleness: bigint;
}

export interface ChainSpec {
  chainId: bigint;
  /** The proof-of-authority signers, in the order that defines the in-turn proposer. */
  coordinators: Address[];
  alloc: Map<Address, bigint>;
  /** Minimum time between blocks, and the extra wait before an out-of-turn coordinator may propose. */
  blockPeriodMs: number;
  outOfTurnDelayMs: number;
  genesisTimestamp: bigint;
  rewards: RewardPolicy;
  /** Name of the model config the network trains (e.g. "ailo-1b"). */
  model: string;
  /** sha256 of the genesis model's weight manifest, or zero when the network starts from a fresh init. */
  genesisModelDigest: `0x${string}`;
}

export const ALC = 10n ** 18n;
