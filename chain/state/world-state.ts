/**
 * The ledger state: every entry held in memory (loaded from the store at start), its Merkle commitment,
 * and overlays in which a block's transactions are applied before the block is accepted.
 */
import { decodeRlp, rlpToBytes, rlpToList } from '../encoding/rlp.js';
import type { Address } from '../../protocol/address.js';
import { toHex, type Hex } from '../../protocol/bytes.js';
import {
  accountKeyWithHex,
  contributionKey,
  decodeAccount,
  decodeContribution,
  decodeMeta,
  decodeModelVersion,
  EMPTY_ACCOUNT,
  encodeAccount,
  encodeContribution,
  encodeMeta,
  encodeModelVersion,
  encodeTxRef,
  convictedKey,
  inferenceRewardKey,
  META_KEY,
  modelVersionKey,
  taskKey,
  type Account,
  type ContributionEntry,
  type Meta,
  type ModelVersionEntry,
} from './keys.js';
import { StateTree, type StateChange } from './state-tree.js';

export interface StateReader {
  getRaw(keyHex: string): Uint8Array | undefined;
}

export class WorldState implements StateReader {
  private readonly values = new Map<string, Uint8Array>();
  private readonly tree = new StateTree();

  getRaw(keyHex: string): Uint8Array | undefined {
    return this.values.get(keyHex);
  }

  root(): Uint8Array {
    return this.tree.root();
  }

  rootWith(changes: Iterable<StateChange>): Uint8Array {
    return this.tree.rootWith(changes);
  }

  apply(changes: Iterable<StateChange>): Uint8Array {
    const list = [...changes];
    for (const { key, value } of list) {
      const k = toHex(key);
      if (value === null) this.values.delete(k);
      else this.values.set(k, value);
    }
    return this.tree.apply(list);
  }

  get size(): number {
    return this.values.size;
  }

  entries(): IterableIterator<[string, Uint8Array]> {
    return this.values.entries();
  }
}

/** Typed reads and writes over a reader, collecting changes without touching it. */
export class StateOverlay implements StateReader {
  readonly changes = new Map<string, StateChange>();

  constructor(private readonly base: StateReader) {}

  getRaw(keyHex: string): Uint8Array | undefined {
    const c = this.changes.get(keyHex);
    if (c) return c.value ?? undefined;
    return this.base.getRaw(keyHex);
  }

  private set(key: Uint8Array, value: Uint8Array | null): void {
    this.changes.set(toHex(key), { key, value });
  }

  /** Folds another overlay's changes (built on top of this one) into this one. */
  absorb(child: StateOverlay): void {
    for (const [k, c] of child.changes) this.changes.set(k, c);
  }

  account(address: Address): Account {
    const raw = this.getRaw(accountKeyWithHex(address).hex);
    return raw ? decodeAccount(raw) : EMPTY_ACCOUNT;
  }

  setAccount(address: Address, account: Account): void {
    const empty = account.balance === 0n && account.nonce === 0n;
    const { key, hex } = accountKeyWithHex(address);
    this.changes.set(hex, { key, value: empty ? null : encodeAccount(account) });
  }

  meta(): Meta {
    const raw = this.getRaw(toHex(META_KEY));
    return raw ? decodeMeta(raw) : { latestModelVersion: 0n, totalSupply: 0n };
  }

  setMeta(meta: Meta): void {
    this.set(META_KEY, encodeMeta(meta));
  }

  contribution(txHash: Hex): ContributionEntry | undefined {
    const raw = this.getRaw(toHex(contributionKey(txHash)));
    return raw ? decodeContribution(raw) : undefined;
  }

  setContribution(txHash: Hex, entry: ContributionEntry): void {
    this.set(contributionKey(txHash), encodeContribution(entry));
  }

  taskUsed(taskId: Hex): boolean {
    return this.getRaw(toHex(taskKey(taskId))) !== undefined;
  }

  markTaskUsed(taskId: Hex, txHash: Hex): void {
    this.set(taskKey(taskId), encodeTxRef(txHash));
  }

  modelVersion(version: bigint): ModelVersionEntry | undefined {
    const raw = this.getRaw(toHex(modelVersionKey(version)));
    return raw ? decodeModelVersion(raw) : undefined;
  }

  setModelVersion(version: bigint, entry: ModelVersionEntry): void {
    this.set(modelVersionKey(version), encodeModelVersion(entry));
  }

  /** Whether `node` was already paid for the inference request `requestId`. */
  inferenceRewarded(requestId: Hex, node: Address): boolean {
    return this.getRaw(toHex(inferenceRewardKey(requestId, node))) !== undefined;
  }

  markInferenceRewarded(requestId: Hex, node: Address, txHash: Hex): void {
    this.set(inferenceRewardKey(requestId, node), encodeTxRef(txHash));
  }

  /** Whether a coordinator was convicted of equivocation: its blocks and finality votes no longer count. */
  convicted(coordinator: Address): boolean {
    return this.getRaw(toHex(convictedKey(coordinator))) !== undefined;
  }

  /** The `equivocation` transaction that convicted a coordinator, or undefined. */
  convictionTx(coordinator: Address): Hex | undefined {
    const raw = this.getRaw(toHex(convictedKey(coordinator)));
    return raw ? toHex(rlpToBytes(rlpToList(decodeRlp(raw), 1, 'conviction')[0]!, 32, 'conviction tx')) : undefined;
  }

  markConvicted(coordinator: Address, txHash: Hex): void {
    this.set(convictedKey(coordinator), encodeTxRef(txHash));
  }
}
