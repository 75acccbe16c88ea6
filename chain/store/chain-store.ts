/**
 * The ledger on disk: LevelDB (through `level`) with one sublevel per kind of record. A block, its
 * transactions' locations, its history entries, its state changes and the new head are written in ONE
 * atomic, synced batch, so after a crash at any moment the store holds whole blocks only.
 *
 * Sublevels (names are never reused; retired ones stay listed here):
 *   meta     utf8 key -> JSON or bytes: 'head' (hash of the head block), 'weight' (its chain's total weight), 'genesis' (the genesis JSON)
 *   blocks   block hash (32) -> block bytes
 *   heights  height (8, big-endian) -> block hash
 *   txs      tx hash (32) -> height (8) || index (4)
 *   state    state key (32) -> state value
 *   history  address (20) || height (8) || index (4) -> tx hash (32)
 *   undo     height (8) -> RLP list of [state key, previous value or empty, existed flag]: what rolling the block back restores
 *   votes    target height (8) || target hash (32) || voter (20) || source height (8) || source hash (32) -> the vote's bytes (finality.ts): every signature-checked
 *            finality vote the node holds, from which justification, finality and their certificates are recomputed
 * meta also keeps 'vote-guard' (this coordinator's last vote: source height (8) || target height (8)) and 'sealed'
 * (the slots this coordinator sealed, clique.ts SealedSlots): the promises that keep an honest node from equivocating; and 'finalized'
 * (height (8) || hash (32) of the highest final block, which may have been finalized by a link to a block since rolled back).
 */
import { Level } from 'level';
import type { AbstractSublevel } from 'abstract-level';
import type { Address } from '../../protocol/address.js';
import { addressFromBytes, addressToBytes } from '../../protocol/address.js';
import { bytesToUint, concatBytes, fromHex, hexInto, toHex, uintInto, uintToBytes, type Hex } from '../../protocol/bytes.js';
import type { StateChange } from '../state/state-tree.js';
import { decodeRlp, encodeRlp, rlpToBytes, rlpToList } from '../encoding/rlp.js';

type Bin = Uint8Array;
type Db = Level<string, Bin>;
type Sub = AbstractSublevel<Db, string | Bin, Bin, Bin>;
type MetaSub = AbstractSublevel<Db, string | Bin, string, Bin>;
type BatchOp = { type: 'put'; sublevel: Sub | MetaSub; key: Bin | string; value: Bin } | { type: 'del'; sublevel: Sub; key: Bin };

export interface TxLocation {
  height: bigint;
  index: number;
}

export interface HistoryEntry {
  address: Address;
  height: bigint;
  index: number;
  txHash: Hex;
}

export interface BlockCommit {
  hash: Hex;
  height: bigint;
  bytes: Uint8Array;
  txHashes: Hex[];
  stateChanges: Iterable<StateChange>;
  history: HistoryEntry[];
  /** The previous value of every state key the block changes (null: the key did not exist). */
  undo: StateChange[];
  /** Total fork-choice weight of the chain up to and including this block. */
  weight: bigint;
  /** Sealed by this node: the new 'sealed' record (clique.ts SealedSlots) written in the same batch. */
  sealedSlots?: Uint8Array;
}

/** What removing the head block from the canonical chain must undo. */
export interface BlockRollback {
  height: bigint;
  parentHash: Hex;
  txHashes: Hex[];
  history: HistoryEntry[];
  undo: StateChange[];
  /** Total weight of the chain once the block is removed. */
  weight: bigint;
}

type MetaRecord = 'vote-guard' | 'sealed' | 'finalized';

/** How abstract-level prefixes a sublevel's keys in the root database: '!' name '!'. */
const SUBLEVEL_PREFIX = { txs: new TextEncoder().encode('!txs!'), history: new TextEncoder().encode('!history!') };
const ROOT_VIEW_KEY = { keyEncoding: 'view' } as object;

/** A history entry's key, address (20) || height (8) || index (4), after `prefix` when writing through the root. */
function historyKey(e: HistoryEntry, prefix: Uint8Array = new Uint8Array(0)): Uint8Array {
  const at = prefix.length;
  const key = new Uint8Array(at + 32);
  key.set(prefix);
  hexInto(e.address, key, at);
  uintInto(e.height, key, at + 20, 8);
  uintInto(BigInt(e.index), key, at + 28, 4);
  return key;
}

function encodeUndo(undo: StateChange[]): Uint8Array {
  return encodeRlp(undo.map((u) => [u.key, u.value ?? new Uint8Array(0), u.value === null ? new Uint8Array(0) : Uint8Array.of(1)]));
}

function decodeUndo(bytes: Uint8Array): StateChange[] {
  return rlpToList(decodeRlp(bytes), undefined, 'undo').map((item, i) => {
    const [key, value, existed] = rlpToList(item, 3, `undo[${i}]`);
    return {
      key: rlpToBytes(key!, 32, 'undo key'),
      value: rlpToBytes(existed!, undefined, 'undo flag').length > 0 ? rlpToBytes(value!, undefined, 'undo value') : null,
    };
  });
}

const BIN = { keyEncoding: 'view', valueEncoding: 'view' } as const;

export class ChainStore {
  private constructor(
    readonly db: Level<string, Bin>,
    private readonly meta: MetaSub,
    private readonly blocks: Sub,
    private readonly heights: Sub,
    private readonly txs: Sub,
    private readonly state: Sub,
    private readonly history: Sub,
    private readonly undoLog: Sub,
    private readonly votes: Sub,
  ) {}

  static async open(dir: string): Promise<ChainStore> {
    const db = new Level<string, Bin>(dir, { valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new Error(`${dir} is in use by another process (a running node?); stop it first`);
      throw new Error(`cannot open the chain database ${dir}: ${(err as Error).message}`);
    }
    const sub = (name: string): Sub => db.sublevel<Bin, Bin>(name, BIN) as unknown as Sub;
    return new ChainStore(
      db,
      db.sublevel<string, Bin>('meta', { valueEncoding: 'view' }) as unknown as MetaSub,
      sub('blocks'),
      sub('heights'),
      sub('txs'),
      sub('state'),
      sub('history'),
      sub('undo'),
      sub('votes'),
    );
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async headHash(): Promise<Hex | undefined> {
    const v = await this.meta.get('head');
    return v ? toHex(v) : undefined;
  }

  /** Fork-choice weight of the chain up to the head. */
  async headWeight(): Promise<bigint | undefined> {
    const v = await this.meta.get('weight');
    return v ? bytesToUint(v) : undefined;
  }

  /** A small meta record (see the list above), or undefined. */
  async metaBytes(key: MetaRecord): Promise<Uint8Array | undefined> {
    return this.meta.get(key);
  }

  /** Writes a meta record durably (a synced write): it must survive a crash before anything it promises is sent. */
  async putMetaBytes(key: MetaRecord, value: Uint8Array): Promise<void> {
    await this.meta.put(key, value, { sync: true } as object);
  }

  /** Stores signature-checked finality votes (see the votes sublevel above). */
  async putVotes(
    votes: { vote: { voter: Address; source: { hash: Hex; height: bigint }; target: { hash: Hex; height: bigint } }; bytes: Uint8Array }[],
  ): Promise<void> {
    if (votes.length === 0) return;
    const batch = this.votes.batch();
    for (const { vote: v, bytes } of votes) {
      batch.put(
        concatBytes(
          uintToBytes(v.target.height, 8),
          fromHex(v.target.hash, 32),
          addressToBytes(v.voter),
          uintToBytes(v.source.height, 8),
          fromHex(v.source.hash, 32),
        ),
        bytes,
      );
    }
    await batch.write();
  }

  /** Every stored vote from target height `from` up (or only for the block `target`), in height order, with its voter. */
  async *voteEntries(from = 0n, target?: Hex): AsyncGenerator<{ voter: Address; bytes: Uint8Array }> {
    const range = target
      ? {
          gte: concatBytes(uintToBytes(from, 8), fromHex(target, 32)),
          lt: concatBytes(uintToBytes(from, 8), fromHex(target, 32), new Uint8Array(60).fill(0xff)),
        }
      : { gte: uintToBytes(from, 8) };
    for await (const [key, value] of this.votes.iterator(range)) {
      yield { voter: addressFromBytes((key as Uint8Array).subarray(40, 60)), bytes: value };
    }
  }

  async genesisJson(): Promise<string | undefined> {
    const v = await this.meta.get('genesis');
    return v ? new TextDecoder().decode(v) : undefined;
  }

  async blockBytes(hash: Hex): Promise<Uint8Array | undefined> {
    return this.blocks.get(fromHex(hash, 32));
  }

  async hashAtHeight(height: bigint): Promise<Hex | undefined> {
    const v = await this.heights.get(uintToBytes(height, 8));
    return v ? toHex(v) : undefined;
  }

  async txLocation(hash: Hex): Promise<TxLocation | undefined> {
    const v = await this.txs.get(fromHex(hash, 32));
    if (!v) return undefined;
    return { height: bytesToUint(v.subarray(0, 8)), index: Number(bytesToUint(v.subarray(8, 12))) };
  }

  async *stateEntries(): AsyncGenerator<StateChange> {
    for await (const [key, value] of this.state.iterator()) yield { key: key as Uint8Array, value };
  }

  /** A page of an address's history, newest first; `before` is the (height, index) to continue below. */
  async historyPage(address: Address, limit: number, before?: { height: bigint; index: number }): Promise<HistoryEntry[]> {
    const prefix = addressToBytes(address);
    const lt = before
      ? concatBytes(prefix, uintToBytes(before.height, 8), uintToBytes(BigInt(before.index), 4))
      : concatBytes(prefix, new Uint8Array(12).fill(0xff));
    const out: HistoryEntry[] = [];
    for await (const [key, value] of this.history.iterator({ gte: prefix, lt, reverse: true, limit })) {
      const k = key as Uint8Array;
      out.push({ address, height: bytesToUint(k.subarray(20, 28)), index: Number(bytesToUint(k.subarray(28, 32))), txHash: toHex(value) });
    }
    return out;
  }

  /** The height index from `from` upwards, in order. */
  async *heightIndex(from = 0n): AsyncGenerator<{ height: bigint; hash: Hex }> {
    for await (const [key, value] of this.heights.iterator({ gte: uintToBytes(from, 8) })) {
      yield { height: bytesToUint(key as Uint8Array), hash: toHex(value) };
    }
  }

  async *txIndexEntries(): AsyncGenerator<{ hash: Hex } & TxLocation> {
    for await (const [key, v] of this.txs.iterator()) {
      yield { hash: toHex(key as Uint8Array), height: bytesToUint(v.subarray(0, 8)), index: Number(bytesToUint(v.subarray(8, 12))) };
    }
  }

  async *historyEntries(): AsyncGenerator<HistoryEntry> {
    for await (const [key, value] of this.history.iterator()) {
      const k = key as Uint8Array;
      yield {
        address: addressFromBytes(k.subarray(0, 20)),
        height: bytesToUint(k.subarray(20, 28)),
        index: Number(bytesToUint(k.subarray(28, 32))),
        txHash: toHex(value),
      };
    }
  }

  async writeGenesis(genesisJson: string, commit: BlockCommit): Promise<void> {
    await this.commitBlock(commit, [{ type: 'put', sublevel: this.meta, key: 'genesis', value: new TextEncoder().encode(genesisJson) }]);
  }

  /** Writes one block and everything it changes in a single atomic, synced batch. */
  async commitBlock(c: BlockCommit, extra: BatchOp[] = []): Promise<void> {
    const hash = fromHex(c.hash, 32);
    const heightKey = uintToBytes(c.height, 8);
    // A chained batch prepares each op about twice as fast as an array of ops; the sublevel option routes it,
    // which level's typings cannot express across differently-typed sublevels, hence the casts.
    const batch = this.db.batch();
    const put = (sublevel: Sub | MetaSub, key: Bin | string, value: Bin): void => {
      batch.put(key as string, value, { sublevel: sublevel as unknown as Sub } as object);
    };
    for (const op of extra) {
      if (op.type === 'put') put(op.sublevel, op.key, op.value);
      else batch.del(op.key as unknown as string, { sublevel: op.sublevel } as object);
    }
    put(this.blocks, hash, c.bytes);
    put(this.heights, heightKey, hash);
    // The two indexes with an entry per transaction go straight to the root database with their sublevel's key
    // prefix written in place: abstract-level would otherwise re-encode and re-prefix every key (a third of the
    // cost of importing a block of transfers). Reads still go through the sublevels, which the tests exercise.
    const txPrefix = SUBLEVEL_PREFIX.txs;
    c.txHashes.forEach((h, i) => {
      const location = new Uint8Array(12);
      location.set(heightKey);
      uintInto(BigInt(i), location, 8, 4);
      const key = new Uint8Array(txPrefix.length + 32);
      key.set(txPrefix);
      hexInto(h, key, txPrefix.length);
      batch.put(key as unknown as string, location, ROOT_VIEW_KEY);
    });
    const historyPrefix = SUBLEVEL_PREFIX.history;
    for (const e of c.history) batch.put(historyKey(e, historyPrefix) as unknown as string, fromHex(e.txHash, 32), ROOT_VIEW_KEY);
    for (const sc of c.stateChanges) {
      if (sc.value === null) batch.del(sc.key as unknown as string, { sublevel: this.state } as object);
      else put(this.state, sc.key, sc.value);
    }
    if (c.height > 0n) put(this.undoLog, heightKey, encodeUndo(c.undo));
    put(this.meta, 'head', hash);
    put(this.meta, 'weight', uintToBytes(c.weight, 32));
    if (c.sealedSlots) put(this.meta, 'sealed', c.sealedSlots);
    await batch.write({ sync: true });
  }

  async undoOf(height: bigint): Promise<StateChange[]> {
    const bytes = await this.undoLog.get(uintToBytes(height, 8));
    if (!bytes) throw new Error(`no undo record for block ${height}: the data folder is corrupt`);
    return decodeUndo(bytes);
  }

  /** Takes the head block off the canonical chain in one atomic batch; its bytes stay stored as a known block. */
  async rollbackBlock(r: BlockRollback): Promise<void> {
    const heightKey = uintToBytes(r.height, 8);
    const batch = this.db.batch();
    const del = (sublevel: Sub, key: Bin): void => {
      batch.del(key as unknown as string, { sublevel } as object);
    };
    del(this.heights, heightKey);
    del(this.undoLog, heightKey);
    for (const h of r.txHashes) del(this.txs, fromHex(h, 32));
    for (const e of r.history) del(this.history, historyKey(e));
    for (const u of r.undo) {
      if (u.value === null) del(this.state, u.key);
      else batch.put(u.key as unknown as string, u.value, { sublevel: this.state } as object);
    }
    batch.put('head', fromHex(r.parentHash, 32), { sublevel: this.meta as unknown as Sub } as object);
    batch.put('weight', uintToBytes(r.weight, 32), { sublevel: this.meta as unknown as Sub } as object);
    await batch.write({ sync: true });
  }

  /** Raw access for the audit, which checks the indexes against the blocks. */
  get sublevels(): { blocks: Sub; heights: Sub; txs: Sub; state: Sub; history: Sub } {
    return { blocks: this.blocks, heights: this.heights, txs: this.txs, state: this.state, history: this.history };
  }
}
