/** The JSON the node answers with, as the UI reads it (amounts and heights stay decimal strings until used). */
import type { KdfParams, SealedKey } from '../crypto/account-keys.js';

export interface NetworkStatus {
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
}

export interface ChainHead {
  height: string;
  hash: string;
  timestamp: string;
  finalizedHeight: string;
}

export interface LedgerAccount {
  address: string;
  balance: string;
  nonce: string;
  pendingNonce: string;
  height: string;
}

/** A transaction as the ledger serves it; which fields are present depends on `type`. */
export interface TxView {
  hash: string;
  type: 'transfer' | 'contribution' | 'model_version' | 'inference_reward';
  from?: string;
  to?: string;
  amount?: string;
  nonce?: string;
  miner?: string;
  coordinator?: string;
  node?: string;
  reward?: string;
  quality?: number;
  modelVersion?: string;
}

export interface HistoryItem {
  height: string;
  index: number;
  timestamp: string;
  tx: TxView;
}

export interface HistoryPage {
  address: string;
  items: HistoryItem[];
  next: string | null;
}

export interface TxLookup {
  status: 'confirmed' | 'pending';
  /** Confirmed and at or below the finalized height (Casper FFG): it can no longer be rolled back. */
  final?: boolean;
  height?: string;
  tx: TxView;
}

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

/** The account record the node keeps: no password, no key, only what the browser sealed. */
export interface AccountRecord {
  username: string;
  address: string;
  kdf: KdfParams;
  wallet: SealedKey;
  createdAt: number;
  recoveryKeyCreatedAt: number;
}

export interface SessionGrant {
  token: string;
  expiresAt: number;
  account: AccountRecord;
}

export interface RecoveryGrant {
  recoveryToken: string;
  expiresAt: number;
  address: string;
  wallet: SealedKey;
}

export interface RecoverySeal {
  proof: string;
  wallet: SealedKey;
}

/** GET /api/round: the coordinator's open round, and each recent version's held-out loss (training's progress). */
export interface RoundStatus {
  version: number;
  accepted: number;
  roundSize: number;
  deadline: number;
  openTasks: number;
  heldOutLoss?: { version: number; loss: number }[];
}
