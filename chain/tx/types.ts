/** The ledger's transaction types (DESIGN.md, Chain). Amounts are bigint base units (18 decimals). */
import type { Address } from '../../protocol/address.js';
import type { Hex } from '../../protocol/bytes.js';

export type Hash = Hex;

/** A wallet moves ALC; signed by `from` with EIP-712. `nonce` counts the transfers `from` has sent before. */
export interface TransferTx {
  type: 'transfer';
  from: Address;
  to: Address;
  amount: bigint;
  nonce: bigint;
  signature: Uint8Array;
}

/** The proof-of-contribution record of one accepted gradient submission; signed by the verifying coordinator. */
export interface ContributionTx {
  type: 'contribution';
  coordinator: Address;
  miner: Address;
  taskId: Hash;
  /** The model version the miner trained from. */
  modelVersion: bigint;
  /** sha256 of the data shard, and the token range within it that the task named. */
  shard: Hash;
  offset: bigint;
  length: bigint;
  /** sha256 of the submitted (compressed) update. */
  gradientDigest: Hash;
  /** The quality multiplier the coordinator measured, in thousandths: 1000 (1x) to 10000 (10x). */
  quality: number;
  reward: bigint;
  signature: Uint8Array;
}

/**
 * A new global model version aggregating the listed contributions (hashes of contribution transactions), in the order
 * listed, with the outer step it took: the version's weights are a pure function of the parent's, the listed updates
 * and this step (`applyRound` in trainer/federated/outer-optimizer.ts), so anyone can recompute them.
 */
export interface ModelVersionTx {
  type: 'model_version';
  coordinator: Address;
  version: bigint;
  parentVersion: bigint;
  manifestDigest: Hash;
  contributions: Hash[];
  /** The outer step's learning rate in millionths (900000: 0.9); 0: the parent's weights kept, the momentum reset. */
  outerLrPpm: number;
  /** Whether the outer momentum restarted (was dropped) before the step; true whenever outerLrPpm is 0. */
  momentumRestart: boolean;
  signature: Uint8Array;
}

/**
 * One contributor's pay for a served distributed-inference request, signed by the coordinator that served it: one per
 * contributor (the ledger pays a node at most once per request), naming the span of layers the node held.
 */
export interface InferenceRewardTx {
  type: 'inference_reward';
  coordinator: Address;
  node: Address;
  /** The request digest (the chat answer's `start.request`). */
  requestId: Hash;
  /** The layers [spanStart, spanEnd) the node served; spanStart < spanEnd. */
  spanStart: number;
  spanEnd: number;
  shares: bigint;
  reward: bigint;
  signature: Uint8Array;
}

/**
 * Evidence that a coordinator equivocated (Casper FFG's slashing conditions, or two blocks at one height): two
 * messages it signed that an honest coordinator never signs both of. Anyone can report it; `reporter` signs the
 * report. From the block that includes it on, the offender's blocks and finality votes no longer count.
 */
export interface EquivocationTx {
  type: 'equivocation';
  reporter: Address;
  offender: Address;
  /** 'votes': two encoded finality votes (consensus/finality.ts); 'headers': two sealed blocks reduced to their headers. */
  kind: 'votes' | 'headers';
  evidence: [Uint8Array, Uint8Array];
  signature: Uint8Array;
}

export type Tx = TransferTx | ContributionTx | ModelVersionTx | InferenceRewardTx | EquivocationTx;
export type TxType = Tx['type'];
/** For a `switch` over a union that must name every member: a new member makes the call a compile error. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

/** A decoded transaction with its canonical bytes and hash (keccak256 of those bytes). */
export interface SignedTx {
  tx: Tx;
  bytes: Uint8Array;
  hash: Hash;
}
