/**
 * The safety checker, fed as the run goes: every final checkpoint any honest node ever reports, then every
 * honest node's chain at the end. Safety holds when no two reported finals conflict (neither is an ancestor of
 * the other in the global tree), no node's final goes down or changes at one height, and every transaction any
 * honest node reported final is on every honest node's chain at the end.
 */
import type { Hex } from '../../../protocol/bytes.js';
import type { Checkpoint } from '../finality.js';
import type { BlockTree, TipView } from './tree.js';

export type SafetyViolation =
  | { code: 'CONFLICTING_FINAL'; node: string; checkpoint: Checkpoint; other: string; otherCheckpoint: Checkpoint; atMs: number }
  | { code: 'FINAL_REGRESSED'; node: string; from: Checkpoint; to: Checkpoint; atMs: number }
  | { code: 'FINAL_TX_MISSING'; node: string; tx: string; finalAt: string };

interface Reported {
  node: string;
  checkpoint: Checkpoint;
}

export class SafetyChecker {
  readonly violations: SafetyViolation[] = [];
  /** The highest final reported so far; while safety holds every other report is its ancestor. */
  private highest: Reported | undefined;
  private readonly last = new Map<string, Checkpoint>();
  private readonly finalTxs = new Map<string, string>();
  finalsReported = 0;

  constructor(private readonly tree: BlockTree) {}

  reportFinal(node: string, checkpoint: Checkpoint, txs: readonly string[], atMs: number): void {
    this.finalsReported++;
    const prev = this.last.get(node);
    if (prev && (checkpoint.height < prev.height || (checkpoint.height === prev.height && checkpoint.hash !== prev.hash))) {
      this.violations.push({ code: 'FINAL_REGRESSED', node, from: prev, to: checkpoint, atMs });
    }
    this.last.set(node, checkpoint);
    for (const tx of txs) if (!this.finalTxs.has(tx)) this.finalTxs.set(tx, node);
    const h = this.highest;
    if (!h) {
      this.highest = { node, checkpoint };
      return;
    }
    if (this.tree.conflicting(h.checkpoint, checkpoint)) {
      this.violations.push({ code: 'CONFLICTING_FINAL', node, checkpoint, other: h.node, otherCheckpoint: h.checkpoint, atMs });
      return;
    }
    if (checkpoint.height > h.checkpoint.height) this.highest = { node, checkpoint };
  }

  /** After the final healing period: every transaction reported final is on every honest chain. */
  checkEnd(chains: { node: string; chain: TipView; onChain: (tx: string) => boolean }[]): void {
    for (const { node, onChain } of chains) {
      for (const [tx, finalAt] of this.finalTxs) if (!onChain(tx)) this.violations.push({ code: 'FINAL_TX_MISSING', node, tx, finalAt });
    }
  }

  get finalHeight(): bigint {
    return this.highest?.checkpoint.height ?? 0n;
  }
}

export function describeViolation(v: SafetyViolation): string {
  const cp = (c: Checkpoint): string => `${c.height} ${shortHash(c.hash)}`;
  switch (v.code) {
    case 'CONFLICTING_FINAL':
      return `${v.code}: ${v.node} finalized ${cp(v.checkpoint)} at ${v.atMs} ms, conflicting with ${v.other}'s final ${cp(v.otherCheckpoint)}`;
    case 'FINAL_REGRESSED':
      return `${v.code}: ${v.node}'s final went from ${cp(v.from)} to ${cp(v.to)} at ${v.atMs} ms`;
    case 'FINAL_TX_MISSING':
      return `${v.code}: ${v.tx}, reported final by ${v.finalAt}, is not on ${v.node}'s chain at the end`;
  }
}

function shortHash(hash: Hex): string {
  return hash.slice(2, 8);
}
