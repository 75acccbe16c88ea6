/**
 * The ledger as one object: a store, the in-memory state, and the rules that let a block in.
 * Every block, whether sealed here or received, goes through the same checks (header, proposer rules,
 * signatures, tx root, state transition, state root) before one atomic commit. Commits are serialized.
 */
import type { Address } from '../protocol/address.js';
import { bytesToUint, concatBytes, fromHex, toHex, uintToBytes, type Hex } from '../protocol/bytes.js';
import { blockWeight, checkClique, recentWindow, SealedSlots, type ChainTip } from './consensus/clique.js';
import {
  decodeVote,
  encodeVote,
  FinalityTracker,
  needsFinalizingBlock,
  nextVote,
  signVote,
  voteDigest,
  type Checkpoint,
  type ChainView,
  type FinalityStatus,
  type Vote,
} from './consensus/finality.js';
import { recoverBlockSigners, verifyBlock } from './block/verify.js';
import type { StateChange } from './state/state-tree.js';
import type { SignatureVerifier } from './crypto/verifier.js';
import { BlockError, BlockErrorCode, TxError } from './errors.js';
import { genesisBlock, networkDomain } from './genesis-block.js';
import { merkleProof, type MerkleProofStep } from './merkle.js';
import type { ChainSpec } from './spec.js';
import { applyTx } from './state/transition.js';
import { StateOverlay, WorldState } from './state/world-state.js';
import type { ChainStore } from './store/chain-store.js';
import { historyOf } from './store/history.js';
import { decodeBlock, encodeBlock, sealBlock, sealDigest, txRootOf, type Block, type BlockHeader } from './block/block.js';
import type { SignedTx } from './tx/types.js';

/** How far above its head a node keeps finality votes (blocks): further ones are dropped until it gets there. */
export const MAX_VOTE_AHEAD = 64n;

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

/** What `addVotes` made of a batch of vote bytes. */
export interface VoteIntake {
  added: Vote[];
  known: number;
  /** Targets at or below the final height: they can no longer change anything. */
  stale: number;
  /** Votes that failed to decode or are not signed by a coordinator, by index, with the reason. */
  invalid: { index: number; reason: string }[];
  /** Pairs of votes by one coordinator that break a slashing condition (evidence of equivocation). */
  conflicts: { a: Vote; b: Vote; kind: 'double' | 'surround' }[];
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
  private readonly finalityListeners = new Set<(status: FinalityStatus) => void>();
  /** Hashes of the canonical chain by height (index = height). */
  private readonly canonical: Hex[] = [];
  /** Transaction counts of canonical blocks above the final height that hold any (what finality still owes). */
  private readonly unfinalTxs = new Map<bigint, number>();
  private finalityTracker!: FinalityTracker;
  private sealed = new SealedSlots();
  /** Coordinators convicted of equivocation on the canonical chain, with the height of the convicting block. */
  private readonly convictions = new Map<Address, bigint>();
  readonly genesisHash: Hex;
  private blockCheck: ((block: Block) => Promise<void>) | undefined;

  private constructor(
    readonly spec: ChainSpec,
    readonly store: ChainStore,
    readonly state: WorldState,
    private readonly opts: Required<ChainOptions>,
  ) {
    this.genesisHash = networkDomain(spec).genesisHash;
  }

  /** Opens the chain in `store`, writing genesis into an empty store, and checks the stored state against the head. */
  static async open(store: ChainStore, spec: ChainSpec, genesisJson: string, options: ChainOptions): Promise<Chain> {
    const opts: Required<ChainOptions> = { now: () => BigInt(Date.now()), maxFutureMs: 15_000, ...options };
    const chain = new Chain(spec, store, new WorldState(), opts);
    const genesis = genesisBlock(spec);
    let headHash = await store.headHash();
    if (!headHash) {
      await store.writeGenesis(genesisJson, {
        hash: genesis.block.hash,
        height: 0n,
        bytes: encodeBlock(genesis.block),
        txHashes: [],
        stateChanges: genesis.stateChanges,
        history: [],
        undo: [],
        weight: 0n,
      });
      headHash = genesis.block.hash;
    }
    const storedGenesis = await store.hashAtHeight(0n);
    if (storedGenesis !== genesis.block.hash) {
      throw new Error(
        `the data folder holds a different chain (genesis ${storedGenesis}, expected ${genesis.block.hash}): use the genesis it was created with, or another --data folder`,
      );
    }
    const changes = [];
    for await (const change of store.stateEntries()) changes.push(change);
    chain.state.apply(changes);
    const head = await chain.blockByHash(headHash);
    if (!head) throw new Error(`store is missing its head block ${headHash}`);
    if (toHex(chain.state.root()) !== head.header.stateRoot) {
      throw new Error(
        `stored state does not match head block ${head.header.height}'s state root: the data folder is corrupt (run 'ailo audit --data')`,
      );
    }
    chain.headBlock = head;
    await chain.loadRecentProposers();
    chain.totalWeightValue = (await store.headWeight()) ?? 0n;
    for await (const { height, hash } of store.heightIndex()) chain.canonical[Number(height)] = hash;
    if (chain.canonical.length !== Number(chain.height) + 1)
      throw new Error("the height index has gaps: the data folder is corrupt (run 'ailo audit --data')");
    chain.sealed = SealedSlots.decode(await store.metaBytes('sealed'));
    const final = await store.metaBytes('finalized');
    await chain.loadConvictions();
    chain.finalityTracker = new FinalityTracker(
      spec.coordinators,
      chain.genesisHash,
      () => chain.convictions,
      final ? { height: bytesToUint(final.subarray(0, 8)), hash: toHex(final.subarray(8, 40)) } : undefined,
    );
    // The votes that can still matter: those above the final block, and a window below it for equivocation checks.
    const since = chain.finalityTracker.finalized.height > 1024n ? chain.finalityTracker.finalized.height - 1024n : 0n;
    for await (const { voter, bytes } of store.voteEntries(since)) chain.finalityTracker.add({ voter, ...decodeVote(bytes) });
    const status = chain.finalityTracker.update(chain.view_());
    for (let h = status.finalized.height + 1n; h <= chain.height; h++) {
      const count = (await chain.blockByHeight(h))!.txs.length;
      if (count > 0) chain.unfinalTxs.set(h, count);
    }
    return chain;
  }

  /** Coordinators convicted of equivocation on the canonical chain: their blocks and later votes no longer count. */
  convicted(): Set<Address> {
    return new Set(this.convictions.keys());
  }

  /** Reads from the state who is convicted, and from the transaction index at which height. */
  private async loadConvictions(): Promise<void> {
    this.convictions.clear();
    const view = this.view();
    for (const c of this.spec.coordinators) {
      const tx = view.convictionTx(c);
      const at = tx ? await this.store.txLocation(tx) : undefined;
      if (at) this.convictions.set(c, at.height);
    }
  }

  /** The canonical chain as the finality tracker reads it. */
  private view_(): ChainView {
    return { height: this.height, hashAt: (h) => this.canonical[Number(h)] };
  }

  /** Re-evaluates finality on the canonical chain, records a new final block, and tells listeners when it moved. */
  private async refreshFinality(): Promise<void> {
    const { justified, finalized } = this.finalityTracker;
    const status = this.finalityTracker.update(this.view_());
    if (status.finalized.hash !== finalized.hash) {
      for (const h of this.unfinalTxs.keys()) if (h <= status.finalized.height) this.unfinalTxs.delete(h);
      await this.store.putMetaBytes('finalized', concatBytes(uintToBytes(status.finalized.height, 8), fromHex(status.finalized.hash, 32)));
    }
    if (status.justified.hash !== justified.hash || status.finalized.hash !== finalized.hash)
      for (const listener of this.finalityListeners) listener(status);
  }

  /** The highest justified and final checkpoints of the canonical chain (Casper FFG, consensus/finality.ts). */
  get finality(): FinalityStatus {
    return { finalized: this.finalityTracker.finalized, justified: this.finalityTracker.justified };
  }

  /** The height of the newest canonical block holding transactions that is not final yet, or the final height. */
  get highestUnfinalTxHeight(): bigint {
    let top = this.finalityTracker.finalized.height;
    for (const h of this.unfinalTxs.keys()) if (h > top) top = h;
    return top;
  }

  /**
   * Whether this coordinator should seal an empty block so that the latest transactions can become final
   * (finality.ts `needsFinalizingBlock`, with the coordinators voting since those transactions' block).
   */
  needsFinalizingBlock(): boolean {
    const txHeight = this.highestUnfinalTxHeight;
    return needsFinalizingBlock(
      this.finality,
      { hash: this.head.hash, height: this.height },
      txHeight,
      this.finalityTracker.votersSince(txHeight),
      this.finalityTracker.quorum,
    );
  }

  /**
   * What a fork really offers, computed here rather than taken from whoever sent it: `blocks` must run from height
   * `forkPoint + 1` on, each the child of the one before and of our block at `forkPoint`, each sealed by its named
   * proposer, a coordinator. Returns the fork's tip with its Clique weight and its highest justified height by the
   * votes this node holds, or undefined when the blocks do not hold together or the fork conflicts with a final block.
   * (The blocks' transactions and state are checked only on import.)
   */
  async forkTip(forkPoint: bigint, blocks: Block[]): Promise<ChainTip | undefined> {
    if (blocks.length === 0 || forkPoint > this.height) return undefined;
    let parentHash = this.canonical[Number(forkPoint)]!;
    for (const [i, b] of blocks.entries()) {
      if (b.header.height !== forkPoint + 1n + BigInt(i) || b.header.parentHash !== parentHash) return undefined;
      parentHash = b.hash;
    }
    const signers = await this.opts.verifier.recoverMany(
      blocks.map((b) => sealDigest(b.header)),
      blocks.map((b) => b.signature),
    );
    if (blocks.some((b, i) => signers[i] !== b.header.proposer || !this.spec.coordinators.includes(b.header.proposer))) return undefined;
    let weight = this.totalWeightValue;
    for (let h = forkPoint + 1n; h <= this.height; h++) weight -= blockWeight(this.spec, (await this.blockByHeight(h))!.header);
    for (const b of blocks) weight += blockWeight(this.spec, b.header);
    const top = forkPoint + BigInt(blocks.length);
    const status = this.finalityTracker.evaluate({
      height: top,
      hashAt: (h) => (h <= forkPoint ? this.canonical[Number(h)] : h <= top ? blocks[Number(h - forkPoint - 1n)]!.hash : undefined),
    });
    return status ? { hash: blocks.at(-1)!.hash, totalWeight: weight, justifiedHeight: status.justified.height } : undefined;
  }

  /** Called whenever the justified or final checkpoint of the canonical chain moves. */
  onFinality(listener: (status: FinalityStatus) => void): () => void {
    this.finalityListeners.add(listener);
    return () => this.finalityListeners.delete(listener);
  }

  /**
   * The certificate of the canonical block at `height`: the stored votes of a quorum of coordinators linking one
   * source to it (the supermajority link that justified it), or undefined when the votes held make no such link.
   */
  async certificate(height: bigint): Promise<Vote[] | undefined> {
    const hash = this.canonical[Number(height)];
    if (!hash || height === 0n) return undefined;
    const bySource = new Map<string, Vote[]>();
    for await (const { voter, bytes } of this.store.voteEntries(height, hash)) {
      const vote = { voter, ...decodeVote(bytes) };
      const key = `${vote.source.height}:${vote.source.hash}`;
      bySource.set(key, [...(bySource.get(key) ?? []), vote]);
    }
    return [...bySource.values()].find((link) => link.length >= this.finalityTracker.quorum);
  }

  /**
   * Up to `limit` stored votes whose target is at `from` or above, encoded, oldest target first: with them a peer
   * catching up (or an auditor) recomputes every justification and finality from its own final block on.
   */
  async votesFrom(from: bigint, limit: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for await (const { bytes } of this.store.voteEntries(from)) {
      out.push(bytes);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Takes finality votes (their bytes, as gossiped): each is decoded, its signer recovered and checked against
   * the genesis coordinators, then kept (in the store too) and counted. Returns what became of each.
   */
  async addVotes(raw: Uint8Array[]): Promise<VoteIntake> {
    const intake: VoteIntake = { added: [], known: 0, stale: 0, invalid: [], conflicts: [] };
    const decoded: { index: number; fields: ReturnType<typeof decodeVote> }[] = [];
    raw.forEach((bytes, index) => {
      try {
        decoded.push({ index, fields: decodeVote(bytes) });
      } catch (err) {
        intake.invalid.push({ index, reason: `malformed vote: ${(err as Error).message}` });
      }
    });
    const signers = await this.opts.verifier.recoverMany(
      decoded.map((d) => voteDigest(this.genesisHash, d.fields.source, d.fields.target)),
      decoded.map((d) => d.fields.signature),
    );
    return this.serialize(async () => {
      const toStore: Parameters<ChainStore['putVotes']>[0] = [];
      // A coordinator caught equivocating may flood votes for made-up blocks: of its votes, only those for blocks
      // this node holds are kept (one that is dropped and turns out to matter comes again with a peer's votes).
      const unknownTargets = new Set<Hex>();
      for (const [i, d] of decoded.entries()) {
        const voter = signers[i];
        if (voter && this.finalityTracker.caught(voter) && !(await this.store.blockBytes(d.fields.target.hash)))
          unknownTargets.add(d.fields.target.hash);
      }
      decoded.forEach(({ index, fields }, i) => {
        const voter = signers[i];
        if (!voter || !this.spec.coordinators.includes(voter)) {
          intake.invalid.push({
            index,
            reason: voter ? `vote signed by ${voter}, who is not a coordinator of this network` : 'vote signature matches no key',
          });
          return;
        }
        const vote: Vote = { voter, ...fields };
        if (this.finalityTracker.caught(voter) && unknownTargets.has(vote.target.hash)) {
          intake.stale++;
          return;
        }
        // A vote far above our head is no use yet and could be junk: it comes again with the votes of a sync.
        if (vote.target.height > this.height + MAX_VOTE_AHEAD) {
          intake.stale++;
          return;
        }
        const result = this.finalityTracker.add(vote);
        if (result === 'known') intake.known++;
        else if (result === 'stale') intake.stale++;
        else {
          if (result === 'added') intake.added.push(vote);
          else intake.conflicts.push({ a: result.conflict, b: vote, kind: result.kind });
          toStore.push({ vote, bytes: raw[index]! });
        }
      });
      await this.store.putVotes(toStore);
      if (intake.added.length > 0 || intake.conflicts.length > 0) await this.refreshFinality();
      return intake;
    });
  }

  /**
   * This coordinator's FFG vote on the current head (finality.ts `nextVote`): its promise (the vote guard) is
   * written durably before the vote exists, so a crash between two votes cannot make it cast conflicting ones.
   * Returns the vote's bytes to gossip, or undefined when there is nothing to vote for.
   */
  voteOnHead(key: Uint8Array, voter: Address): Promise<Uint8Array | undefined> {
    return this.serialize(async () => {
      const guardBytes = await this.store.metaBytes('vote-guard');
      const guard = guardBytes
        ? { lastSourceHeight: bytesToUint(guardBytes.subarray(0, 8)), lastTargetHeight: bytesToUint(guardBytes.subarray(8, 16)) }
        : undefined;
      const head: Checkpoint = { hash: this.head.hash, height: this.height };
      const link = nextVote(this.finality, head, guard);
      if (!link) return undefined;
      await this.store.putMetaBytes('vote-guard', concatBytes(uintToBytes(link.source.height, 8), uintToBytes(link.target.height, 8)));
      const vote = signVote(this.genesisHash, link.source, link.target, key, voter);
      const bytes = encodeVote(vote);
      this.finalityTracker.add(vote);
      await this.store.putVotes([{ vote, bytes }]);
      await this.refreshFinality();
      return bytes;
    });
  }

  /** Whether this node already sealed a child of the current head (it never seals a second: equivocation). */
  get sealedOnHead(): boolean {
    return this.sealed.sealedOn({ hash: this.head.hash, height: this.height });
  }

  private async loadRecentProposers(): Promise<void> {
    this.recentProposers.length = 0;
    for (let h = this.height; h > 0n && this.recentProposers.length < recentWindow(this.spec) + 1; h--) {
      this.recentProposers.push((await this.blockByHeight(h))!.header.proposer);
    }
  }

  /** The highest final height: a block a quorum of coordinators finalized by FFG votes. Never rolled back. */
  finalizedHeight(): bigint {
    return this.finalityTracker.finalized.height;
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
          height: block.header.height,
          parentHash: parent.hash,
          txHashes: block.txs.map((t) => t.hash),
          history: historyOf(block),
          undo,
          weight,
        });
        this.state.apply(undo);
        this.headBlock = parent;
        this.totalWeightValue = weight;
        this.canonical.length = Number(parent.header.height) + 1;
        this.unfinalTxs.delete(block.header.height);
        removed.push(block);
      }
      await this.loadRecentProposers();
      if (removed.some((b) => b.txs.some((t) => t.tx.type === 'equivocation'))) await this.loadConvictions();
      await this.refreshFinality();
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

  /**
   * Sets a check of what the state transition cannot judge alone (on a coordinator: that each `model_version`'s
   * weights recompute to its digest, node/federation/model-replica.ts). It runs on every block imported from a peer,
   * after the block's own checks and before it is committed, and refuses the block by throwing a BlockError.
   */
  setBlockCheck(check: ((block: Block) => Promise<void>) | undefined): void {
    this.blockCheck = check;
  }

  private async verifyAndCommit(block: Block, signers: (Address | null)[], options: ImportOptions): Promise<void> {
    const changes = verifyBlock(
      {
        spec: this.spec,
        state: this.state,
        parent: this.headBlock,
        recentProposers: this.recentProposers,
        latestAllowedTimestamp: options.checkFutureTime === false ? undefined : this.opts.now() + BigInt(this.opts.maxFutureMs),
      },
      block,
      signers,
    );
    await this.blockCheck?.(block);
    await this.commit(block, changes);
  }

  private async commit(block: Block, changes: StateChange[], sealedSlots?: SealedSlots): Promise<void> {
    const height = block.header.height;
    const history = historyOf(block);
    const undo = changes.map((c) => ({ key: c.key, value: this.state.getRaw(toHex(c.key)) ?? null }));
    const weight = this.totalWeightValue + blockWeight(this.spec, block.header);
    await this.store.commitBlock({
      hash: block.hash,
      height,
      bytes: encodeBlock(block),
      txHashes: block.txs.map((t) => t.hash),
      stateChanges: changes,
      history,
      undo,
      weight,
      sealedSlots: sealedSlots?.encode(),
    });
    this.state.apply(changes);
    this.headBlock = block;
    this.totalWeightValue = weight;
    this.canonical[Number(height)] = block.hash;
    if (block.txs.length > 0) this.unfinalTxs.set(height, block.txs.length);
    if (block.txs.some((t) => t.tx.type === 'equivocation')) await this.loadConvictions();
    await this.refreshFinality();
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
      if (this.view().convicted(proposer))
        throw new BlockError(BlockErrorCode.NOT_AUTHORIZED, `cannot propose: ${proposer} was convicted of equivocation`, header.height);
      const parentSlot = { hash: this.headBlock.hash, height: this.height };
      if (this.sealed.sealedOn(parentSlot)) {
        throw new BlockError(
          BlockErrorCode.ALREADY_SEALED,
          `cannot propose: this node already sealed a child of block ${this.height} (two would be equivocation)`,
          header.height,
        );
      }
      const block = sealBlock(header, included, proposerKey);
      const slots = SealedSlots.decode(this.sealed.encode());
      slots.add(parentSlot);
      await this.commit(block, changes, slots);
      this.sealed = slots;
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
    if (!block || !tx || tx.hash !== hash)
      throw new Error(`transaction index for ${hash} points at the wrong place: the data folder is corrupt`);
    return {
      tx,
      height: location.height,
      index: location.index,
      blockHash: block.hash,
      txRoot: block.header.txRoot,
      proof: merkleProof(
        block.txs.map((t) => fromHex(t.hash, 32)),
        location.index,
      ),
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
