/**
 * Every block any simulated node ever sealed, honest or byzantine: the global block tree the nodes store their
 * blocks in (each node knows a subset) and the safety checker judges ancestry in.
 */
import type { Address } from '../../../protocol/address.js';
import { toHex, type Hex } from '../../../protocol/bytes.js';
import type { BlockHeader } from '../../block/block.js';
import { keccak256 } from '../../../protocol/keccak.js';
import type { ChainSpec } from '../../spec.js';
import { blockWeight } from '../clique.js';
import type { ChainView, Checkpoint } from '../finality.js';

export interface SimBlock {
  hash: Hex;
  header: BlockHeader;
  /** Transaction ids; the simulation needs no transaction bodies. */
  txs: readonly string[];
  totalWeight: bigint;
}

const ZERO = ('0x' + '00'.repeat(32)) as Hex;
const text = new TextEncoder();

export class BlockTree {
  private readonly blocks = new Map<Hex, SimBlock>();
  readonly genesis: SimBlock;

  constructor(readonly spec: ChainSpec) {
    const header: BlockHeader = {
      chainId: spec.chainId,
      height: 0n,
      parentHash: ZERO,
      timestamp: spec.genesisTimestamp,
      proposer: ('0x' + '00'.repeat(20)) as Address,
      txRoot: ZERO,
      stateRoot: ZERO,
    };
    this.genesis = { hash: toHex(keccak256(text.encode(`genesis:${spec.chainId}`))), header, txs: [], totalWeight: 0n };
    this.blocks.set(this.genesis.hash, this.genesis);
  }

  get size(): number {
    return this.blocks.size;
  }

  get(hash: Hex): SimBlock | undefined {
    return this.blocks.get(hash);
  }

  /** Seals a child of `parent`; `variant` lets a byzantine proposer seal distinct twins at one height. */
  seal(parent: SimBlock, proposer: Address, timestamp: bigint, txs: readonly string[], variant = 0): SimBlock {
    const header: BlockHeader = { ...parent.header, height: parent.header.height + 1n, parentHash: parent.hash, timestamp, proposer };
    const hash = toHex(keccak256(text.encode(`${parent.hash}|${header.height}|${proposer}|${timestamp}|${txs.join(',')}|${variant}`)));
    const block: SimBlock = { hash, header, txs, totalWeight: parent.totalWeight + blockWeight(this.spec, header) };
    this.blocks.set(hash, block);
    return block;
  }

  ancestorAt(hash: Hex, height: bigint): Hex | undefined {
    let b = this.blocks.get(hash);
    while (b && b.header.height > height) b = this.blocks.get(b.header.parentHash);
    return b && b.header.height === height ? b.hash : undefined;
  }

  isAncestor(a: Checkpoint, b: Checkpoint): boolean {
    return a.height <= b.height && this.ancestorAt(b.hash, a.height) === a.hash;
  }

  conflicting(a: Checkpoint, b: Checkpoint): boolean {
    return !this.isAncestor(a, b) && !this.isAncestor(b, a);
  }

  /** Proposers of `hash` and its ancestors, newest first, at most `count` (genesis excluded). */
  recentProposers(hash: Hex, count: number): Address[] {
    const out: Address[] = [];
    let b = this.blocks.get(hash);
    while (b && b.header.height > 0n && out.length < count) {
      out.push(b.header.proposer);
      b = this.blocks.get(b.header.parentHash);
    }
    return out;
  }

  view(tip: SimBlock): TipView {
    return new TipView(this, tip);
  }
}

/** The chain ending at `tip` as finality.ts reads it; walks parents lazily, once. */
export class TipView implements ChainView {
  readonly height: bigint;
  private readonly hashes: Hex[];
  private cursor: SimBlock;

  constructor(
    private readonly tree: BlockTree,
    readonly tip: SimBlock,
  ) {
    this.height = tip.header.height;
    this.hashes = [tip.hash];
    this.cursor = tip;
  }

  hashAt(height: bigint): Hex | undefined {
    if (height > this.height || height < 0n) return undefined;
    const i = Number(this.height - height);
    while (this.hashes.length <= i) {
      this.cursor = this.tree.get(this.cursor.header.parentHash)!;
      this.hashes.push(this.cursor.hash);
    }
    return this.hashes[i];
  }
}
