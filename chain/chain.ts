/**
 * The ledger as one object: a store, the in-memory state, and the rules that let a block in.
 * Every block, whether sealed here or received, goes through the same checks (header, proposer rules,
 * signatures, tx root, state transition, state root) before one atomic commit. Commits are serialized.
 */
import type { Address } from './address.js';
import { fromHex, toHex, type Hex } from './bytes.js';
import { blockWeight, checkClique, finalizedHeight, recentWindow } from './consensus/clique.js';
import { recoverBlockSigners, verifyBlock } from './block/verify.js';
import type { StateChange } from './state/state-tree.js';
import type { SignatureVerifier } from './crypto/verifier.js';
import { BlockError, BlockErrorCode, TxError } from './errors.js';
import { genesisBlock } from './genesis-block.js';
import { merkleProof, type MerkleProofStep } from './merkle.js';
import type { ChainSpec } from './spec.js';
import { applyTx } from './state/transition.js';
import { StateOverlay, WorldState } from './state/world-state.js';
import type { ChainStore } from './store/chain-store.js';
import { historyOf } from './store/history.js';
import { decodeBlock, encodeBlock, sealBlock, txRootOf, type Block, type BlockHeader } from './block/block.js';
import type { SignedTx } from './tx/types.js';

export interface ChainOptions {
  verifier: SignatureVerifier;
  /** Wall clock in ms; blocks stamped further than maxFutureMs ahead of it are refused. */
  now?: () => bigint;
  maxFutureMs?: number;
}

export interface ImportOptions {
  /** Refuse blocks from the future (live import); the audit replays history and turns this off. */
  checkFutureTime?: boolean;
}

export interface TxWithLocation {
  tx: SignedTx;
  height: bigint;
  index: number;
  blockHash: Hex;
  proof: MerkleProofStep[];
  txRoot: Hex;
}

export interface BuiltBlock {
  block: Block;
  /** Transactions left out because they failed against the state at this height, with the reason. */
  rejected: { tx: SignedTx; error: TxError }[];
}

export class Chain {
  private headBlock!: Block;
  private readonly recentProposers: Address[] = [];
  private totalWeightValue = 0n;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(block: Block) => void>();
  private readonly rollbackListeners = new Set<(removed: Block[]) => void>();

  private constructor(
    readonly spec: ChainSpec,
    readonly store: ChainStore,
    readonly state: WorldState,
    private readonly opts: Required<ChainOptions>,
  ) {}

  /** Opens the chain in `store`, writing genesis into an empty store, and checks the stored state against the head. */
  static async open(store: ChainStore, spec: ChainSpec, genesisJson: string, options: ChainOptions): Promise<Chain> {
    const opts: Required<ChainOptions> = { now: () => BigInt(Date.now()), maxFutureMs: 15_000, ...options };
    const chain = new Chain(spec, store, new WorldState(), opts);
    const genesis = genesisBlock(spec);
    let headHash = await store.headHash();
    if (!headHash) {
      await store.writeGenesis(genesisJson, {
        hash: genesis.block.hash, height: 0n, bytes: encodeBlock(genesis.block), txHashes: [], stateChanges: genesis.stateChanges, history: [], undo: [], weight: 0n,
      });
      headHash = genesis.block.hash;
    }
    const storedGenesis = await store.hashAtHeight(0n);
    if (storedGenesis !== genesis.block.hash) {
      throw new Error(`the data folder holds a different chain (genesis ${storedGenesis}, expected ${genesis.block.hash}): use the genesis it was created with, or another --data folder`);
    }
    const changes = [];
    for await (const change of store.stateEntries()) changes.push(change);
    chain.state.apply(changes);
    const head = await chain.blockByHash(headHash);
    if (!head) throw new Error(`store is missing its head block ${headHash}`);
    if (toHex(chain.state.root()) !== head.header.stateRoot) {
      throw new Error(`stored state does not match head block ${head.header.height}'s state root: the data folder is corrupt (run 'ailo audit --data')`);
    }
    chain.headBlock = head;
    await chain.loadRecentProposers();
    chain.totalWeightValue = (await store.headWeight()) ?? 0n;
    return chain;
  }

  private async loadRecentProposers(): Promise<void> {
    this.recentProposers.length = 0;
    for (let h = this.height; h > 0n && this.recentProposers.length < recentWindow(this.spec) + 1; h--) {
      this.recentProposers.push((await this.blockByHeight(h))!.header.proposer);
    }
  }

  /**
   * The highest final height: the newest block that a majority (floor(N/2)+1) of distinct coordinators have signed
   * or built on. The signer limit makes the last floor(N/2)+1 proposers distinct, so the proposers kept in memory
   * are all it takes. Never rolled back.
   */
  finalizedHeight(): bigint {
    const height = this.height;
    return finalizedHeight(this.spec, (h) => this.recentProposers[Number(height - h)], height);
  }

  onRollback(listener: (removed: Block[]) => void): () => void {
    this.rollbackListeners.add(listener);
    return () => this.rollbackListeners.delete(listener);
  }

  /**
   * Takes blocks above `height` off the canonical chain (for a heavier fork), one atomic batch per block, and
   * returns them newest first so their transactions can go back to the pool. Refuses to go below finality.
   */
  rollbackTo(height: bigint): Promise<Block[]> {
    return this.serialize(() => this.rollback(height));
  }

  /**
   * Switches to a fork: rolls back to `height` and imports `blocks` (which must start at height + 1) in one
   * serialized step, so no block sealed here can slip in between. Returns the blocks taken off.
   */
  switchTo(height: bigint, blocks: Block[], options: ImportOptions = {}): Promise<Block[]> {
    const signers = blocks.map((b) => recoverBlockSigners(this.opts.verifier, this.spec, [b]).then((r) => r[0]!));
    for (const s of signers) s.catch(() => undefined);
    return this.serialize(async () => {
      const removed = await this.rollback(height);
      for (let i = 0; i < blocks.length; i++) await this.verifyAndCommit(blocks[i]!, await signers[i]!, options);
      return removed;
    });
  }

  private async rollback(height: bigint): Promise<Block[]> {
    {
      if (height >= this.height) return [];
      const finalized = this.finalizedHeight();
      if (height < finalized) {
        throw new BlockError(BlockErrorCode.BELOW_FINALITY, `cannot roll back to ${height}: block ${finalized} is final`, height);
      }
      const removed: Block[] = [];
      while (this.height > height) {
        const block = this.headBlock;
        const parent = await this.blockByHash(block.header.parentHash);
        if (!parent) throw new Error(`store is missing block ${block.header.parentHash}, the parent of ${block.header.height}`);
        const undo = await this.store.undoOf(block.header.height);
        const weight = this.totalWeightValue - blockWeight(this.spec, block.header);
        await this.store.rollbackBlock({
          height: block.header.height, parentHash: parent.hash, txHashes: block.txs.map((t) => t.hash), history: historyOf(block), undo, weight,
        });
        this.state.apply(undo);
        this.headBlock = parent;
        this.totalWeightValue = weight;
        removed.push(block);
      }
      await this.loadRecentProposers();
      for (const listener of this.rollbackListeners) listener(removed);
      return removed;
    }
  }

  get head(): Block {
    return this.headBlock;
  }

  get height(): bigint {
    return this.headBlock.header.height;
  }

  get totalWeight(): bigint {
    return this.totalWeightValue;
  }

  /** Proposers of the head and its ancestors, newest first. */
  get recent(): readonly Address[] {
    return this.recentProposers;
  }

  onBlock(listener: (block: Block) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Verifies and commits blocks in order. Signature recovery for every block starts at once on the worker
   * threads, so block k+1's signatures are being recovered while block k is checked and written.
   */
  importBlocks(blocks: Block[], options: ImportOptions = {}): Promise<void> {
    const signers = blocks.map((b) => recoverBlockSigners(this.opts.verifier, this.spec, [b]).then((r) => r[0]!));
    for (const s of signers) s.catch(() => undefined); // a failure surfaces when its block's turn comes
    return this.serialize(async () => {
      for (let i = 0; i < blocks.length; i++) await this.verifyAndCommit(blocks[i]!, await signers[i]!, options);
    });
  }

  importBlock(block: Block, options: ImportOptions = {}): Promise<void> {
    return this.importBlocks([block], options);
  }

  private async verifyAndCommit(block: Block, signers: (Address | null)[], options: ImportOptions): Promise<void> {
    const changes = verifyBlock({
      spec: this.spec, state: this.state, parent: this.headBlock, recentProposers: this.recentProposers,
      latestAllowedTimestamp: options.checkFutureTime === false ? undefined : this.opts.now() + BigInt(this.opts.maxFutureMs),
    }, block, signers);
    await this.commit(block, changes);
  }

  private async commit(block: Block, changes: StateChange[]): Promise<void> {
    const height = block.header.height;
    const history = historyOf(block);
    const undo = changes.map((c) => ({ key: c.key, value: this.state.getRaw(toHex(c.key)) ?? null }));
    const weight = this.totalWeightValue + blockWeight(this.spec, block.header);
    await this.store.commitBlock({ hash: block.hash, height, bytes: encodeBlock(block), txHashes: block.txs.map((t) => t.hash), stateChanges: changes, history, undo, weight });
    this.state.apply(changes);
    this.headBlock = block;
    this.totalWeightValue = weight;
    this.recentProposers.unshift(block.header.proposer);
    this.recentProposers.length = Math.min(this.recentProposers.length, recentWindow(this.spec) + 1);
    for (const listener of this.listeners) listener(block);
  }

  /**
   * Seals a block on the head from candidate transactions (already signature-checked), leaving out those
   * that fail against the state, and commits it.
   */
  buildBlock(candidates: SignedTx[], proposerKey: Uint8Array, proposer: Address, timestamp: bigint): Promise<BuiltBlock> {
    return this.serialize(async () => {
      const overlay = new StateOverlay(this.state);
      const included: SignedTx[] = [];
      const rejected: BuiltBlock['rejected'] = [];
      for (const t of candidates) {
        try {
          applyTx(overlay, t, this.spec);
          included.push(t);
        } catch (err) {
          if (err instanceof TxError) rejected.push({ tx: t, error: err });
          else throw err;
        }
      }
      const changes = [...overlay.changes.values()];
      const header: BlockHeader = {
        chainId: this.spec.chainId,
        height: this.height + 1n,
        parentHash: this.headBlock.hash,
        timestamp,
        proposer,
        txRoot: txRootOf(included),
        stateRoot: toHex(this.state.rootWith(changes)),
      };
      const violation = checkClique(this.spec, this.headBlock.header, header, this.recentProposers);
      if (violation) throw new BlockError(BlockErrorCode[violation.code], `cannot propose: ${violation.message}`, header.height);
      const block = sealBlock(header, included, proposerKey);
      await this.commit(block, changes);
      return { block, rejected };
    });
  }

  async blockByHash(hash: Hex): Promise<Block | undefined> {
    const bytes = await this.store.blockBytes(hash);
    return bytes ? decodeBlock(bytes) : undefined;
  }

  async blockByHeight(height: bigint): Promise<Block | undefined> {
    const hash = await this.store.hashAtHeight(height);
    return hash ? this.blockByHash(hash) : undefined;
  }

  async rawBlockByHeight(height: bigint): Promise<{ hash: Hex; bytes: Uint8Array } | undefined> {
    const hash = await this.store.hashAtHeight(height);
    const bytes = hash ? await this.store.blockBytes(hash) : undefined;
    return hash && bytes ? { hash, bytes } : undefined;
  }

  async txByHash(hash: Hex): Promise<TxWithLocation | undefined> {
    const location = await this.store.txLocation(hash);
    if (!location) return undefined;
    const block = await this.blockByHeight(location.height);
    const tx = block?.txs[location.index];
    if (!block || !tx || tx.hash !== hash) throw new Error(`transaction index for ${hash} points at the wrong place: the data folder is corrupt`);
    return {
      tx, height: location.height, index: location.index, blockHash: block.hash, txRoot: block.header.txRoot,
      proof: merkleProof(block.txs.map((t) => fromHex(t.hash, 32)), location.index),
    };
  }

  account(address: Address): { balance: bigint; nonce: bigint } {
    return new StateOverlay(this.state).account(address);
  }

  /** A read-only typed view of the current state. */
  view(): StateOverlay {
    return new StateOverlay(this.state);
  }
}
