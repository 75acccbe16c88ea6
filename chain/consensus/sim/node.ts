/**
 * One honest simulated node (coordinator or follower), doing what the real node does with the same pure rules:
 * clique.ts decides when it may seal and which tip it prefers, finality.ts what its votes prove and when it votes.
 * What survives a crash is what the real node persists: blocks, received votes, the vote guard, the last sealed
 * height, the final checkpoint, the followed head (and, here, the transaction pool).
 */
import type { Address } from '../../../protocol/address.js';
import type { Hex } from '../../../protocol/bytes.js';
import type { ChainSpec } from '../../spec.js';
import { checkClique, earliestTimestamp, mayPropose, preferTip, recentWindow, SealedSlots, type ChainTip } from '../clique.js';
import {
  FinalityTracker,
  needsFinalizingBlock,
  nextVote,
  type Checkpoint,
  type FinalityStatus,
  type Vote,
  type VoteGuardState,
} from '../finality.js';
import type { VirtualClock } from './clock.js';
import type { Message, Network, Peer } from './network.js';
import type { BlockTree, SimBlock, TipView } from './tree.js';

/** The tracker trusts `voter`, so simulated votes carry a dummy 65-byte signature. */
export const DUMMY_SIGNATURE = new Uint8Array(65);

export interface NodeEvents {
  /** The node's final checkpoint on its followed chain, each time it changes (and once after every restart). */
  final(node: SimNode, checkpoint: Checkpoint, newlyFinalTxs: string[]): void;
  vote(node: SimNode, vote: Vote): void;
  sealed(node: SimNode, block: SimBlock): void;
  log?(line: string): void;
}

export interface SimNodeConfig {
  id: number;
  name: string;
  /** The coordinator address it seals and votes with; undefined for a follower. */
  address?: Address;
  clockOffsetMs: number;
  syncIntervalMs: number;
}

const BLOCKS_PER_REPLY = 64;

export function voteKeyDigest(votes: Iterable<Vote>): number {
  let sum = 0;
  for (const v of votes) {
    const key = `${v.voter}${v.source.hash}${v.target.hash}`;
    let h = 2166136261;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
    sum = (sum + (h >>> 0)) >>> 0;
  }
  return sum;
}

export class SimNode implements Peer {
  up = true;
  readonly id: number;
  readonly name: string;
  readonly address: Address | undefined;
  // persisted
  private readonly known = new Set<Hex>();
  private readonly votesByTarget = new Map<bigint, Vote[]>();
  private guard: VoteGuardState | undefined;
  private readonly sealedSlots = new SealedSlots();
  private finalCheckpoint: Checkpoint;
  private headHash: Hex;
  private readonly pool = new Set<string>();
  // volatile
  private tracker!: FinalityTracker;
  private status!: FinalityStatus;
  private leaves = new Set<Hex>();
  private readonly txBlocks = new Map<string, Hex[]>();
  private orphans = new Map<Hex, SimBlock[]>();
  private headView!: TipView;
  private wakeAt: number | undefined;
  /** Bumped on crash so that callbacks scheduled before it do nothing. */
  private epoch = 0;
  private settling = false;

  constructor(
    config: SimNodeConfig,
    private readonly spec: ChainSpec,
    private readonly tree: BlockTree,
    private readonly clock: VirtualClock,
    private readonly net: Network,
    private readonly events: NodeEvents,
  ) {
    this.id = config.id;
    this.name = config.name;
    this.address = config.address;
    this.clockOffsetMs = config.clockOffsetMs;
    this.syncIntervalMs = config.syncIntervalMs;
    const g = tree.genesis;
    this.known.add(g.hash);
    this.leaves.add(g.hash);
    this.headHash = g.hash;
    this.finalCheckpoint = { hash: g.hash, height: 0n };
    this.resetVolatile();
    this.scheduleSync(this.clock.now + ((config.id * 97) % config.syncIntervalMs));
  }

  private readonly clockOffsetMs: number;
  private readonly syncIntervalMs: number;

  get head(): SimBlock {
    return this.tree.get(this.headHash)!;
  }

  get finalized(): Checkpoint {
    return this.finalCheckpoint;
  }

  get justified(): Checkpoint {
    return this.status.justified;
  }

  /** The followed chain, for the checker. */
  chain(): TipView {
    return this.tree.view(this.head);
  }

  /** Transactions in the pool that the followed chain does not carry. */
  pendingTxs(): string[] {
    return [...this.pool].filter((id) => !this.onChain(id));
  }

  onChain(id: string): boolean {
    return (this.txBlocks.get(id) ?? []).some((h) => {
      const b = this.tree.get(h)!;
      return this.headView.hashAt(b.header.height) === h;
    });
  }

  submitTx(id: string): void {
    if (!this.up || this.pool.has(id)) return;
    this.pool.add(id);
    this.net.broadcast(this.id, { kind: 'tx', id });
    this.maybeSeal();
  }

  crash(): void {
    if (!this.up) return;
    this.up = false;
    this.epoch++;
    this.log('crash');
  }

  restart(): void {
    if (this.up) return;
    this.up = true;
    this.resetVolatile();
    this.log(`restart at head ${this.head.header.height}, final ${this.finalCheckpoint.height}`);
    this.settle(true);
    this.scheduleSync(this.clock.now + this.syncIntervalMs);
  }

  receive(from: number, msg: Message): void {
    switch (msg.kind) {
      case 'block':
        this.importBlocks([msg.block], from);
        break;
      case 'blocks':
        this.importBlocks(msg.blocks, from);
        break;
      case 'vote':
        if (this.addVote(msg.vote)) this.settle(false);
        break;
      case 'votes': {
        let added = false;
        for (const v of msg.votes) added = this.addVote(v) || added;
        if (added) this.settle(false);
        break;
      }
      case 'tx':
        if (!this.pool.has(msg.id)) {
          this.pool.add(msg.id);
          this.maybeSeal();
        }
        break;
      case 'getBlocks': {
        const out: SimBlock[] = [];
        let b = this.known.has(msg.hash) ? this.tree.get(msg.hash) : undefined;
        while (b && b.header.height > 0n && out.length < BLOCKS_PER_REPLY) {
          out.push(b);
          b = this.tree.get(b.header.parentHash);
        }
        if (out.length > 0) this.net.send(this.id, from, { kind: 'blocks', blocks: out.reverse() });
        break;
      }
      case 'status':
        this.onStatus(from, msg);
        break;
    }
  }

  private onStatus(from: number, msg: Extract<Message, { kind: 'status' }>): void {
    if (!this.known.has(msg.head)) this.net.send(this.id, from, { kind: 'getBlocks', hash: msg.head });
    const mine = this.votesAbove(msg.finalizedHeight);
    if (voteKeyDigest(mine) !== msg.voteDigest && mine.length > 0) this.net.send(this.id, from, { kind: 'votes', votes: mine });
    let newTx = false;
    for (const id of msg.pendingTxs) if (!this.pool.has(id)) (this.pool.add(id), (newTx = true));
    if (newTx) this.maybeSeal();
  }

  private scheduleSync(at: number): void {
    const epoch = this.epoch;
    this.clock.at(at, () => {
      if (!this.up || epoch !== this.epoch) return;
      const fin = this.finalCheckpoint.height;
      const msg: Message = {
        kind: 'status',
        head: this.headHash,
        finalizedHeight: fin,
        voteDigest: voteKeyDigest(this.votesAbove(fin)),
        pendingTxs: this.pendingTxs(),
      };
      this.net.broadcast(this.id, msg);
      this.scheduleSync(this.clock.now + this.syncIntervalMs);
    });
  }

  private votesAbove(height: bigint): Vote[] {
    const out: Vote[] = [];
    for (const [h, votes] of this.votesByTarget) if (h > height) out.push(...votes);
    return out;
  }

  /** Rebuilds what the real node derives on start from what it persisted. */
  private resetVolatile(): void {
    this.orphans = new Map();
    this.wakeAt = undefined;
    // As the real node: the persisted final checkpoint, then the stored votes in target-height order (the store's).
    this.tracker = new FinalityTracker(this.spec.coordinators, this.tree.genesis.hash, undefined, this.finalCheckpoint);
    for (const h of [...this.votesByTarget.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
      for (const v of this.votesByTarget.get(h)!) this.tracker.add(v);
    this.headView = this.tree.view(this.head);
    this.status = this.tracker.update(this.headView);
  }

  private importBlocks(blocks: SimBlock[], from: number): void {
    let connected = false;
    for (const b of blocks) connected = this.importBlock(b, from) || connected;
    if (connected) this.settle(false);
  }

  private importBlock(block: SimBlock, from: number): boolean {
    if (this.known.has(block.hash)) return false;
    const parentHash = block.header.parentHash;
    if (!this.known.has(parentHash)) {
      const waiting = this.orphans.get(parentHash) ?? [];
      if (!waiting.some((b) => b.hash === block.hash)) waiting.push(block);
      this.orphans.set(parentHash, waiting);
      this.net.send(this.id, from, { kind: 'getBlocks', hash: parentHash });
      return false;
    }
    const parent = this.tree.get(parentHash)!;
    const recent = this.tree.recentProposers(parentHash, recentWindow(this.spec));
    const fault = checkClique(this.spec, parent.header, block.header, recent);
    if (fault) {
      this.log(`rejects block ${block.header.height} ${short(block.hash)}: ${fault.code}`);
      return false;
    }
    this.connect(block);
    return true;
  }

  private connect(block: SimBlock): void {
    this.known.add(block.hash);
    this.leaves.delete(block.header.parentHash);
    this.leaves.add(block.hash);
    for (const id of block.txs) {
      this.txBlocks.set(id, [...(this.txBlocks.get(id) ?? []), block.hash]);
      this.pool.add(id);
    }
    const children = this.orphans.get(block.hash);
    if (!children) return;
    this.orphans.delete(block.hash);
    for (const child of children) this.importBlock(child, this.id);
  }

  private addVote(vote: Vote): boolean {
    const r = this.tracker.add(vote);
    if (r === 'known' || r === 'stale') return false;
    const atHeight = this.votesByTarget.get(vote.target.height) ?? [];
    atHeight.push(vote);
    this.votesByTarget.set(vote.target.height, atHeight);
    return true;
  }

  /** Fork choice, then the vote due on a new head (which may change justification), then sealing. */
  private settle(adoptHead: boolean): void {
    if (this.settling) return;
    this.settling = true;
    try {
      let headChanged = this.forkChoice() || adoptHead;
      while (headChanged && this.address && this.castVote()) headChanged = this.forkChoice();
    } finally {
      this.settling = false;
    }
    this.maybeSeal();
  }

  /** Follows the preferred tip among those containing the final checkpoint; returns whether the head changed. */
  private forkChoice(): boolean {
    let best: (ChainTip & { view: TipView }) | undefined;
    for (const leaf of [...this.leaves]) {
      const view = this.tree.view(this.tree.get(leaf)!);
      const s = this.tracker.evaluate(view);
      if (!s) {
        this.leaves.delete(leaf); // conflicts with a final block: never followed again, nor its descendants
        continue;
      }
      const tip = { hash: leaf, totalWeight: view.tip.totalWeight, justifiedHeight: s.justified.height, view };
      best = best ? (preferTip(best, tip) as typeof tip) : tip;
    }
    if (!best) throw new Error(`${this.name}: no known chain contains its final checkpoint`);
    const before = this.finalCheckpoint;
    this.status = this.tracker.update(best.view);
    const changed = best.hash !== this.headHash;
    if (changed) {
      const old = this.head;
      this.headHash = best.hash;
      this.headView = best.view;
      if (old.hash !== best.view.hashAt(old.header.height))
        this.log(`switches fork: ${old.header.height} ${short(old.hash)} -> ${best.view.height} ${short(best.hash)}`);
    }
    const fin = this.status.finalized;
    if (fin.hash !== before.hash) {
      const txs: string[] = [];
      for (let h = fin.height; h > before.height; h--) txs.push(...this.tree.get(best.view.hashAt(h)!)!.txs);
      this.finalCheckpoint = fin;
      this.log(`final ${fin.height} ${short(fin.hash)}`);
      this.events.final(this, fin, txs);
    }
    return changed;
  }

  /** FFG's honest vote on the head, the guard persisted before the vote leaves. */
  private castVote(): boolean {
    const head = this.head;
    const target = { hash: head.hash, height: head.header.height };
    const link = nextVote(this.status, target, this.guard);
    if (!link) return false;
    this.guard = { lastSourceHeight: link.source.height, lastTargetHeight: link.target.height };
    const vote: Vote = { voter: this.address!, source: link.source, target: link.target, signature: DUMMY_SIGNATURE };
    this.addVote(vote);
    this.net.broadcast(this.id, { kind: 'vote', vote });
    this.events.vote(this, vote);
    this.log(`votes ${link.source.height} -> ${link.target.height} ${short(link.target.hash)}`);
    return true;
  }

  private highestTxHeight(): bigint {
    const fin = this.status.finalized.height;
    for (let b = this.head; b.header.height > fin; b = this.tree.get(b.header.parentHash)!) if (b.txs.length > 0) return b.header.height;
    return fin;
  }

  private localNow(): bigint {
    return this.spec.genesisTimestamp + BigInt(Math.round(this.clock.now + this.clockOffsetMs));
  }

  /** Seals on the head when the rules allow and there is something to seal, else waits (on a timer if time is all it lacks). */
  private maybeSeal(): void {
    if (!this.up || !this.address || this.settling) return;
    const parent = this.head;
    const height = parent.header.height + 1n;
    if (this.sealedSlots.sealedOn({ hash: parent.hash, height: parent.header.height })) return;
    const pending = this.pendingTxs();
    const headCp = { hash: parent.hash, height: parent.header.height };
    const txHeight = this.highestTxHeight();
    if (
      pending.length === 0 &&
      !needsFinalizingBlock(this.status, headCp, txHeight, this.tracker.votersSince(txHeight), this.tracker.quorum)
    )
      return;
    const recent = this.tree.recentProposers(parent.hash, recentWindow(this.spec));
    const now = this.localNow();
    if (!mayPropose(this.spec, parent.header, this.address, recent, now)) {
      if (recent.slice(0, recentWindow(this.spec)).includes(this.address)) return; // waits for another signer's block
      this.wake(Number(earliestTimestamp(this.spec, parent.header, this.address) - this.spec.genesisTimestamp) - this.clockOffsetMs);
      return;
    }
    const block = this.tree.seal(parent, this.address, now, pending);
    this.sealedSlots.add({ hash: parent.hash, height: parent.header.height });
    this.log(`seals ${height} ${short(block.hash)} with ${pending.length} txs`);
    this.events.sealed(this, block);
    this.connect(block);
    this.net.broadcast(this.id, { kind: 'block', block });
    this.settle(false);
  }

  private wake(at: number): void {
    if (this.wakeAt !== undefined && this.wakeAt <= at && this.wakeAt >= this.clock.now) return;
    this.wakeAt = at;
    const epoch = this.epoch;
    this.clock.at(at, () => {
      if (epoch !== this.epoch || !this.up) return;
      if (this.wakeAt === at) this.wakeAt = undefined;
      this.maybeSeal();
    });
  }

  private log(line: string): void {
    this.events.log?.(`${(this.clock.now / 1000).toFixed(3).padStart(8)}s ${this.name}: ${line}`);
  }
}

export function short(hash: Hex): string {
  return hash.slice(2, 8);
}
