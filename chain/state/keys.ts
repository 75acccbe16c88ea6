/**
 * State entry keys and value encodings. Every key is keccak256(namespace byte || id), so entries spread
 * evenly over the state tree's buckets. Retired namespace bytes stay listed so they are never reused.
 */
import { addressFromBytes, addressToBytes, type Address } from '../../protocol/address.js';
import { concatBytes, fromHex, toHex, uintToBytes, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { decodeRlp, encodeRlp, rlpToBytes, rlpToList, rlpToUint, uintToRlp } from '../encoding/rlp.js';

export enum StateNamespace {
  META = 0x00,
  ACCOUNT = 0x01,
  CONTRIBUTION = 0x02,
  MODEL_VERSION = 0x03,
  // 0x04: INFERENCE_REQUEST, retired (one inference reward per request id; now one per request and node).
  TASK = 0x05,
  CONVICTED = 0x06,
  INFERENCE_REWARD = 0x07,
}

const key = (ns: StateNamespace, id: Uint8Array): Uint8Array => keccak256(Uint8Array.of(ns), id);

export const META_KEY = key(StateNamespace.META, new Uint8Array(0));

/** Account keys are looked up several times per transfer; their hashes are kept (bounded) instead of recomputed. */
const accountKeyCache = new Map<Address, { key: Uint8Array; hex: string }>();
const ACCOUNT_KEY_CACHE_LIMIT = 1 << 20;

export function accountKeyWithHex(a: Address): { key: Uint8Array; hex: string } {
  let entry = accountKeyCache.get(a);
  if (!entry) {
    if (accountKeyCache.size >= ACCOUNT_KEY_CACHE_LIMIT) accountKeyCache.clear();
    const k = key(StateNamespace.ACCOUNT, addressToBytes(a));
    entry = { key: k, hex: toHex(k) };
    accountKeyCache.set(a, entry);
  }
  return entry;
}
/** Contributions are keyed by their transaction hash, which is how model versions name them. */
export const contributionKey = (txHash: Hex): Uint8Array => key(StateNamespace.CONTRIBUTION, fromHex(txHash, 32));
/** A used task id, pointing at the contribution that used it: a task pays at most once. */
export const taskKey = (taskId: Hex): Uint8Array => key(StateNamespace.TASK, fromHex(taskId, 32));
export const modelVersionKey = (v: bigint): Uint8Array => key(StateNamespace.MODEL_VERSION, uintToBytes(v, 8));
/** An inference request's contributor that was paid for it, pointing at the reward: a node is paid once per request. */
export const inferenceRewardKey = (requestId: Hex, node: Address): Uint8Array =>
  key(StateNamespace.INFERENCE_REWARD, concatBytes(fromHex(requestId, 32), addressToBytes(node)));
/** A coordinator convicted of equivocation, pointing at the `equivocation` transaction that proved it. */
export const convictedKey = (a: Address): Uint8Array => key(StateNamespace.CONVICTED, addressToBytes(a));

export interface Account {
  balance: bigint;
  nonce: bigint;
}
export const EMPTY_ACCOUNT: Account = { balance: 0n, nonce: 0n };

export interface Meta {
  latestModelVersion: bigint;
  totalSupply: bigint;
}

export interface ContributionEntry {
  taskId: Hex;
  miner: Address;
  modelVersion: bigint;
  /** The model version that aggregated it; 0 while not yet aggregated. */
  aggregatedIn: bigint;
}

export interface ModelVersionEntry {
  txHash: Hex;
  manifestDigest: Hex;
  parentVersion: bigint;
}

export const encodeAccount = (a: Account): Uint8Array => encodeRlp([uintToRlp(a.balance), uintToRlp(a.nonce)]);
export function decodeAccount(bytes: Uint8Array): Account {
  const l = rlpToList(decodeRlp(bytes), 2, 'account');
  return { balance: rlpToUint(l[0]!, 32, 'balance'), nonce: rlpToUint(l[1]!, 8, 'nonce') };
}

export const encodeMeta = (m: Meta): Uint8Array => encodeRlp([uintToRlp(m.latestModelVersion), uintToRlp(m.totalSupply)]);
export function decodeMeta(bytes: Uint8Array): Meta {
  const l = rlpToList(decodeRlp(bytes), 2, 'meta');
  return { latestModelVersion: rlpToUint(l[0]!, 8, 'latestModelVersion'), totalSupply: rlpToUint(l[1]!, 32, 'totalSupply') };
}

export const encodeContribution = (c: ContributionEntry): Uint8Array =>
  encodeRlp([fromHex(c.taskId, 32), addressToBytes(c.miner), uintToRlp(c.modelVersion), uintToRlp(c.aggregatedIn)]);
export function decodeContribution(bytes: Uint8Array): ContributionEntry {
  const l = rlpToList(decodeRlp(bytes), 4, 'contribution');
  return {
    taskId: toHex(rlpToBytes(l[0]!, 32, 'taskId')),
    miner: addressFromBytes(rlpToBytes(l[1]!, 20, 'miner')),
    modelVersion: rlpToUint(l[2]!, 8, 'modelVersion'),
    aggregatedIn: rlpToUint(l[3]!, 8, 'aggregatedIn'),
  };
}

export const encodeModelVersion = (m: ModelVersionEntry): Uint8Array =>
  encodeRlp([fromHex(m.txHash, 32), fromHex(m.manifestDigest, 32), uintToRlp(m.parentVersion)]);
export function decodeModelVersion(bytes: Uint8Array): ModelVersionEntry {
  const l = rlpToList(decodeRlp(bytes), 3, 'model version');
  return {
    txHash: toHex(rlpToBytes(l[0]!, 32, 'txHash')),
    manifestDigest: toHex(rlpToBytes(l[1]!, 32, 'manifestDigest')),
    parentVersion: rlpToUint(l[2]!, 8, 'parentVersion'),
  };
}

export const encodeTxRef = (txHash: Hex): Uint8Array => encodeRlp([fromHex(txHash, 32)]);
