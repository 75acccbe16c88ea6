/**
 * Proof-of-authority rules in the manner of Clique (EIP-225), for the coordinators named in genesis:
 * - the in-turn proposer of height h is coordinators[h mod N]; its blocks weigh 2, out-of-turn blocks weigh 1;
 * - a block comes at least one period after its parent, an out-of-turn block a further delay later;
 * - a signer may sign at most one of any floor(N/2)+1 consecutive blocks;
 * - fork choice: the chain holding the highest justified checkpoint (Casper FFG's rule, see finality.ts), then the
 *   heaviest, ties broken by the lower head hash;
 * - finality comes from votes (finality.ts), never from who signed blocks.
 */
import type { Address } from '../../protocol/address.js';
import type { Hex } from '../../protocol/bytes.js';
import type { ChainSpec } from '../spec.js';
import type { BlockHeader } from '../block/block.js';

export function inTurnProposer(spec: ChainSpec, height: bigint): Address {
  return spec.coordinators[Number(height % BigInt(spec.coordinators.length))]!;
}

export function isInTurn(spec: ChainSpec, height: bigint, proposer: Address): boolean {
  return inTurnProposer(spec, height) === proposer;
}

export function blockWeight(spec: ChainSpec, header: Pick<BlockHeader, 'height' | 'proposer'>): bigint {
  return isInTurn(spec, header.height, header.proposer) ? 2n : 1n;
}

/** The number of consecutive blocks among which a signer may sign only one. */
export function signerLimit(spec: ChainSpec): number {
  return Math.floor(spec.coordinators.length / 2) + 1;
}

/** Blocks whose proposers the signer limit looks back over: the last signerLimit - 1 ancestors. */
export function recentWindow(spec: ChainSpec): number {
  return signerLimit(spec) - 1;
}

/** The earliest timestamp at which `proposer` may seal a child of `parent`. */
export function earliestTimestamp(spec: ChainSpec, parent: BlockHeader, proposer: Address): bigint {
  const base = parent.timestamp + BigInt(spec.blockPeriodMs);
  return isInTurn(spec, parent.height + 1n, proposer) ? base : base + BigInt(spec.outOfTurnDelayMs);
}

export type CliqueViolation =
  { code: 'NOT_AUTHORIZED'; message: string } | { code: 'SIGNED_RECENTLY'; message: string } | { code: 'BAD_TIMESTAMP'; message: string };

/**
 * Checks a header against the rules; `recentProposers` are the proposers of its parent and the ancestors
 * before it, newest first (at least recentWindow(spec) of them where the chain is that long).
 */
export function checkClique(
  spec: ChainSpec,
  parent: BlockHeader,
  header: BlockHeader,
  recentProposers: Address[],
): CliqueViolation | undefined {
  if (!spec.coordinators.includes(header.proposer)) {
    return { code: 'NOT_AUTHORIZED', message: `${header.proposer} is not a coordinator` };
  }
  const window = recentProposers.slice(0, recentWindow(spec));
  if (window.includes(header.proposer)) {
    return {
      code: 'SIGNED_RECENTLY',
      message: `${header.proposer} signed one of the last ${window.length} blocks (limit 1 in ${signerLimit(spec)})`,
    };
  }
  const earliest = earliestTimestamp(spec, parent, header.proposer);
  if (header.timestamp < earliest) {
    const turn = isInTurn(spec, header.height, header.proposer) ? 'in-turn' : 'out-of-turn';
    return { code: 'BAD_TIMESTAMP', message: `${turn} block at ${header.timestamp} is before its earliest time ${earliest}` };
  }
  return undefined;
}

/** Whether `proposer` may seal the next block now, given the recent proposers (newest first). */
export function mayPropose(spec: ChainSpec, parent: BlockHeader, proposer: Address, recentProposers: Address[], nowMs: bigint): boolean {
  if (!spec.coordinators.includes(proposer)) return false;
  if (recentProposers.slice(0, recentWindow(spec)).includes(proposer)) return false;
  return nowMs >= earliestTimestamp(spec, parent, proposer);
}

export interface ChainTip {
  hash: Hex;
  totalWeight: bigint;
  /** Height of the highest justified checkpoint on the tip's chain. */
  justifiedHeight: bigint;
}

/**
 * Fork choice: the chain with the higher justified checkpoint (FFG needs honest voters to follow it for
 * liveness), then the heavier chain, then the lower head hash, so every node picks the same.
 */
export function preferTip(a: ChainTip, b: ChainTip): ChainTip {
  if (a.justifiedHeight !== b.justifiedHeight) return a.justifiedHeight > b.justifiedHeight ? a : b;
  if (a.totalWeight !== b.totalWeight) return a.totalWeight > b.totalWeight ? a : b;
  return a.hash.toLowerCase() <= b.hash.toLowerCase() ? a : b;
}

/**
 * The slots a proposer has sealed, a slot being "a child of block P": an honest proposer seals at most one child
 * of any block, so two sealed children of one parent by one proposer are evidence of equivocation (evidence.ts).
 * Sealing at a height again on another parent (after following another fork) is honest and allowed, which keeps
 * Clique live when a proposer's earlier block was replaced. Bounded to the newest `limit` slots; the caller persists
 * `encode()` before the block it is about to seal leaves the node.
 */
export class SealedSlots {
  private readonly slots: string[] = [];

  constructor(private readonly limit = 256) {}

  static key(parent: { hash: Hex; height: bigint }): string {
    return `${parent.height + 1n}:${parent.hash.toLowerCase()}`;
  }

  /** Whether this proposer already sealed a child of `parent`. */
  sealedOn(parent: { hash: Hex; height: bigint }): boolean {
    return this.slots.includes(SealedSlots.key(parent));
  }

  add(parent: { hash: Hex; height: bigint }): void {
    const key = SealedSlots.key(parent);
    if (this.slots.includes(key)) return;
    this.slots.push(key);
    if (this.slots.length > this.limit) this.slots.shift();
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(this.slots.join('\n'));
  }

  static decode(bytes: Uint8Array | undefined, limit = 256): SealedSlots {
    const s = new SealedSlots(limit);
    if (bytes && bytes.length > 0)
      for (const key of new TextDecoder().decode(bytes).split('\n')) if (/^[0-9]+:0x[0-9a-f]{64}$/.test(key)) s.slots.push(key);
    return s;
  }
}
