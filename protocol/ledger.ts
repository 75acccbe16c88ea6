/**
 * The node's status, chain and ledger wire types (browser-safe), declared once: the node's routes build them, the
 * wallet and the miners read them. Amounts, heights and nonces are decimal strings (they exceed 2^53); hashes 0x hex;
 * addresses EIP-55.
 */

/** GET /api/status. */
export interface NetworkStatus {
  /** This node, its peers heard from in the last minute, and miners active in the last two. */
  activeNodes: number;
  /** Of activeNodes: miners that asked for a task or had work accepted in the last 2 minutes, and peers heard from. */
  activeMiners?: number;
  peers?: number;
  globalHashrate: string;
  globalParams: number | null;
  targetParams: number | null;
  globalModelVersion: number;
  isNetworkActive: boolean;
  network: string;
  chainId: string;
  /** The genesis block hash: with chainId, the EIP-712 domain (its salt) every signature on this network is bound to. */
  genesisHash: string;
  model: string;
  head: { height: string; hash: string; timestamp: string };
  pendingTransactions: number;
  /** The coordinator this node signs as (EIP-55), or null for a follower. */
  coordinator: string | null;
  /** The node software's version. */
  version: string;
}

/** A block header as the API shows it. */
export interface HeaderView {
  chainId: string;
  height: string;
  parentHash: string;
  timestamp: string;
  /** EIP-55. */
  proposer: string;
  txRoot: string;
  stateRoot: string;
}

/** GET /api/chain/head: the head block, and what finality (Casper FFG) has reached. */
export interface ChainHead extends HeaderView {
  hash: string;
  txCount: number;
  totalWeight: string;
  finalizedHeight: string;
  finalizedHash: string;
  justifiedHeight: string;
  justifiedHash: string;
  /** Votes that make a certificate: floor(2N/3) + 1 of the N coordinators. */
  quorum: number;
}

/** GET /api/round: the coordinator's open round, and each recent version's held-out loss (training's progress). */
export interface RoundStatus {
  version: number;
  accepted: number;
  /** Accepted updates that close the round (more while a round is extended). */
  roundSize: number;
  /** When the round closes at the latest (ms since the epoch). */
  deadline: number;
  openTasks: number;
  heldOutLoss?: { version: number; loss: number }[];
  /** The coordinator that answered (tasks it issued are submitted to it). */
  coordinator?: string;
  /** The coordinator that closes this round (the live coordinators in genesis order, the one at version mod count). */
  runner?: string;
  /** The network's coordinators, where this node reaches them, and whether they are live: where else a miner can go. */
  coordinators?: { address: string; url?: string; live: boolean }[];
}

/** GET /api/ledger/account/:address. */
export interface LedgerAccount {
  address: string;
  balance: string;
  nonce: string;
  /** The nonce the next transfer signs: pending transfers counted. */
  pendingNonce: string;
  height: string;
}

/** A transaction as the ledger serves it; which fields are present depends on `type`. */
export interface TxView {
  hash: string;
  type: 'transfer' | 'contribution' | 'model_version' | 'inference_reward' | 'equivocation';
  from?: string;
  to?: string;
  amount?: string;
  nonce?: string;
  miner?: string;
  coordinator?: string;
  node?: string;
  /** An inference reward: the request digest, the layers [spanStart, spanEnd) the node served, and its shares. */
  requestId?: string;
  spanStart?: number;
  spanEnd?: number;
  shares?: string;
  reward?: string;
  quality?: number;
  modelVersion?: string;
  /** An equivocation: the coordinator convicted, and who reported it. */
  offender?: string;
  reporter?: string;
}

export interface HistoryItem {
  height: string;
  index: number;
  /** At or below the finalized height. */
  final?: boolean;
  timestamp: string;
  tx: TxView;
}

/** GET /api/ledger/history/:address: newest first; `next` is the cursor of the next page. */
export interface HistoryPage {
  address: string;
  items: HistoryItem[];
  next: string | null;
}

/** GET /api/ledger/tx/:hash. */
export interface TxLookup {
  status: 'confirmed' | 'pending';
  /** Confirmed and at or below the finalized height (Casper FFG): it can no longer be rolled back. */
  final?: boolean;
  height?: string;
  tx: TxView;
}

/** POST /api/ledger/transfer: a transfer signed with EIP-712 by `from`. */
export interface TransferBody {
  from: string;
  to: string;
  amount: string;
  nonce: string;
  signature: string;
  /** The network it was signed for; the node refuses another one as TX_WRONG_CHAIN. */
  chainId: string;
  genesisHash: string;
}
