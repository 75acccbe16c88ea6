/**
 * Finality by votes: Casper FFG (Buterin & Griffith, "Casper the Friendly Finality Gadget", 2017) over the
 * Clique chain, with every block a checkpoint (epoch length 1) and the genesis coordinators as equal-weight
 * validators.
 *
 * - A vote is a coordinator's signature over a link `source -> target` (two checkpoints, source an ancestor).
 * - A supermajority link has votes from a quorum of distinct coordinators, q = floor(2N/3) + 1 (more than 2/3).
 * - Genesis is justified; a target is justified by a supermajority link from a justified source on its chain.
 * - A justified checkpoint is final once a supermajority link goes from it to its direct child.
 * - Slashing conditions (the evidence an `equivocation` transaction carries): no coordinator signs two distinct
 *   votes with one target height (double vote), nor a vote whose span surrounds another of its own
 *   (h(s1) < h(s2) < h(t2) < h(t1)).
 *
 * Accountable safety (the paper's Theorem 1): two conflicting checkpoints can only both be final if more than
 * N/3 ... precisely, at least 2q - N >= f + 1 coordinators broke a slashing condition, so with at most
 * f = floor((N-1)/3) byzantine coordinators nothing final is ever rolled back. Plausible liveness (Theorem 2) needs
 * honest coordinators to vote from the highest justified checkpoint they know and to follow the chain that holds
 * it: see `VoteGuard` and `preferTip` in clique.ts. With fewer than q coordinators voting, blocks still come but
 * finality waits. N = 1 or 2 tolerate no fault; N = 3 none either (q = 3); N = 4 tolerates one byzantine
 * coordinator (q = 3); N = 7 two.
 *
 * Everything here is pure (no I/O): the live chain, the audit and the consensus simulation use the same code.
 */
import type { Address } from '../../protocol/address.js';
import { concatBytes, fromHex, toHex, uintToBytes, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { signDigest, signatureShapeError } from '../../protocol/signature.js';
import { decodeRlp, encodeRlp, rlpToBytes, rlpToList, rlpToUint, uintToRlp } from '../encoding/rlp.js';

export interface Checkpoint {
  hash: Hex;
  height: bigint;
}

/** A finality vote: `voter` links `source` to `target`; `signature` (65 bytes) is over `voteDigest`. */
export interface Vote {
  voter: Address;
  source: Checkpoint;
  target: Checkpoint;
  signature: Uint8Array;
}

export const VOTE_CODEC_VERSION = 0x01;
const VOTE_TAG = new TextEncoder().encode('ailo-ffg-vote-v1');

/** The quorum of N coordinators: floor(2N/3) + 1, more than two thirds. */
export function quorum(n: number): number {
  return Math.floor((2 * n) / 3) + 1;
}

/** How many byzantine coordinators N tolerates: floor((N - 1) / 3). */
export function faultTolerance(n: number): number {
  return Math.floor((n - 1) / 3);
}

/**
 * The digest a coordinator signs: keccak256("ailo-ffg-vote-v1" || genesisHash || sourceHash || sourceHeight (8)
 * || targetHash || targetHeight (8)). The genesis hash binds the vote to one network.
 */
export function voteDigest(genesisHash: Hex, source: Checkpoint, target: Checkpoint): Uint8Array {
  return keccak256(
    concatBytes(
      VOTE_TAG,
      fromHex(genesisHash, 32),
      fromHex(source.hash, 32),
      uintToBytes(source.height, 8),
      fromHex(target.hash, 32),
      uintToBytes(target.height, 8),
    ),
  );
}

export function signVote(genesisHash: Hex, source: Checkpoint, target: Checkpoint, key: Uint8Array, voter: Address): Vote {
  if (source.height >= target.height) throw new Error(`a vote's source (${source.height}) must be below its target (${target.height})`);
  return { voter, source, target, signature: signDigest(voteDigest(genesisHash, source, target), key) };
}

/** 0x01 || rlp([sourceHash, sourceHeight, targetHash, targetHeight, signature]); the voter is recovered. */
export function encodeVote(v: Vote): Uint8Array {
  return concatBytes(
    Uint8Array.of(VOTE_CODEC_VERSION),
    encodeRlp([
      fromHex(v.source.hash, 32),
      uintToRlp(v.source.height),
      fromHex(v.target.hash, 32),
      uintToRlp(v.target.height),
      v.signature,
    ]),
  );
}

/** A decoded vote whose voter is not yet known (recover it from `voteDigest`). */
export type UnsignedVoteFields = Omit<Vote, 'voter'>;

/** Decodes and shape-checks a vote; throws an Error naming the fault. */
export function decodeVote(bytes: Uint8Array): UnsignedVoteFields {
  if (bytes.length > 256) throw new Error(`a vote is at most 256 bytes, got ${bytes.length}`);
  if (bytes[0] !== VOTE_CODEC_VERSION) throw new Error(`unknown vote codec version ${bytes[0]}`);
  const f = rlpToList(decodeRlp(bytes.subarray(1)), 5, 'vote');
  const source = { hash: toHex(rlpToBytes(f[0]!, 32, 'source hash')), height: rlpToUint(f[1]!, 8, 'source height') };
  const target = { hash: toHex(rlpToBytes(f[2]!, 32, 'target hash')), height: rlpToUint(f[3]!, 8, 'target height') };
  const signature = rlpToBytes(f[4]!, 65, 'signature');
  const shape = signatureShapeError(signature);
  if (shape) throw new Error(`vote signature: ${shape}`);
  if (source.height >= target.height) throw new Error(`source height ${source.height} is not below target height ${target.height}`);
  return { source, target, signature };
}

/** Whether two votes by one voter break a slashing condition (double vote or surround vote). */
export function votesConflict(a: Vote, b: Vote): 'double' | 'surround' | undefined {
  if (a.voter !== b.voter) return undefined;
  if (a.target.height === b.target.height) {
    return a.target.hash !== b.target.hash || a.source.hash !== b.source.hash || a.source.height !== b.source.height ? 'double' : undefined;
  }
  const surrounds = (x: Vote, y: Vote): boolean => x.source.height < y.source.height && y.target.height < x.target.height;
  return surrounds(a, b) || surrounds(b, a) ? 'surround' : undefined;
}

/**
 * An honest coordinator's promise, kept across restarts (the caller persists `state` before a vote leaves):
 * every new vote has a higher target than any before it and a source no lower than any before it, so it can
 * neither double vote nor surround (nor be surrounded by) one of its own votes.
 */
export interface VoteGuardState {
  lastSourceHeight: bigint;
  lastTargetHeight: bigint;
}

export function mayVote(state: VoteGuardState | undefined, source: Checkpoint, target: Checkpoint): boolean {
  if (source.height >= target.height) return false;
  if (!state) return true;
  return target.height > state.lastTargetHeight && source.height >= state.lastSourceHeight;
}

/** The canonical chain as the tracker reads it: the block hash at a height, or undefined above the head. */
export interface ChainView {
  height: bigint;
  hashAt(height: bigint): Hex | undefined;
}

export interface FinalityStatus {
  /** The highest final checkpoint: never rolled back. */
  finalized: Checkpoint;
  /** The highest justified checkpoint on the chain (at or above `finalized`). */
  justified: Checkpoint;
}

/**
 * The votes a node holds and what they prove about one chain. Votes must be signature-checked before they are
 * added (`voter` is who signed). Pure and synchronous.
 */
export class FinalityTracker {
  /** Votes by target hash, then voter. */
  private readonly byTarget = new Map<Hex, Map<Address, Vote>>();
  /** The target heights `byTarget` holds votes for: what `compute` walks, so its cost follows the votes, not the chain. */
  private readonly targetHeights = new Set<bigint>();
  /** Each voter's votes by target height: what equivocation checks compare against. */
  private readonly byVoter = new Map<Address, Map<bigint, Vote[]>>();
  /**
   * Every checkpoint this tracker ever saw justified above the final one, by hash, with the source of its link.
   * Justification is never taken back (FFG's plausible liveness needs honest voters' sources to stay justified):
   * not by a later conviction of one of the link's voters, nor by which of a double-voter's votes a node holds.
   */
  private readonly sticky = new Map<Hex, Checkpoint>();
  /** Voters whose equivocation this tracker has seen (the evidence is in hand). */
  private readonly proven = new Set<Address>();
  /** Justified checkpoints at or below `finalized` (fixed forever), by height. */
  private readonly settled = new Map<bigint, Hex>();
  private status: FinalityStatus;

  constructor(
    private readonly coordinators: readonly Address[],
    genesisHash: Hex,
    /**
     * Coordinators convicted of equivocation on the chain being tracked, with the height of the block that convicted
     * each: their votes for that block and above no longer count. Votes below it keep counting, so a conviction
     * never takes back a justification it did not prove wrong (else a coordinator could stall finality by getting
     * itself convicted after honest coordinators voted from a checkpoint its vote helped justify).
     */
    private readonly excluded: () => ReadonlyMap<Address, bigint> = () => new Map(),
    /** A final checkpoint known from before (a restart): finality never goes back below it. */
    finalized?: Checkpoint,
  ) {
    const genesis = { hash: genesisHash, height: 0n };
    this.settled.set(0n, genesisHash);
    const start = finalized ?? genesis;
    this.settled.set(start.height, start.hash);
    this.status = { finalized: start, justified: start };
  }

  get quorum(): number {
    return quorum(this.coordinators.length);
  }

  get finalized(): Checkpoint {
    return this.status.finalized;
  }

  get justified(): Checkpoint {
    return this.status.justified;
  }

  /**
   * Adds a signature-checked vote; every vote held counts, so all nodes that hold the same votes agree on what they
   * prove, whatever order they came in. Returns 'known' for a vote already held, 'stale' when it can no longer
   * matter (target at or below the final height), 'added', or, the first time a voter is caught, the earlier vote it
   * conflicts with as evidence (the new vote is kept too). A voter once caught is not searched for conflicts again,
   * so a flood of its votes costs a lookup each, not a scan.
   */
  add(vote: Vote): 'added' | 'known' | 'stale' | { conflict: Vote; kind: 'double' | 'surround' } {
    if (!this.coordinators.includes(vote.voter)) throw new Error(`${vote.voter} is not a coordinator`);
    let mine = this.byVoter.get(vote.voter);
    const atHeight = mine?.get(vote.target.height) ?? [];
    const same = (v: Vote): boolean =>
      v.target.hash === vote.target.hash && v.source.hash === vote.source.hash && v.source.height === vote.source.height;
    if (atHeight.some(same)) return 'known';
    let conflict: { conflict: Vote; kind: 'double' | 'surround' } | undefined;
    if (!this.proven.has(vote.voter)) {
      for (const votes of mine?.values() ?? []) {
        for (const other of votes) {
          const kind = votesConflict(vote, other);
          if (kind) conflict ??= { conflict: other, kind };
        }
      }
    }
    if (!conflict && vote.target.height <= this.status.finalized.height) return 'stale';
    if (conflict) this.proven.add(vote.voter);
    let forTarget = this.byTarget.get(vote.target.hash);
    if (!forTarget) this.byTarget.set(vote.target.hash, (forTarget = new Map()));
    if (!forTarget.has(vote.voter)) forTarget.set(vote.voter, vote);
    this.targetHeights.add(vote.target.height);
    if (!mine) this.byVoter.set(vote.voter, (mine = new Map()));
    atHeight.push(vote);
    mine.set(vote.target.height, atHeight);
    return conflict ?? 'added';
  }

  /** Whether this tracker has seen the voter equivocate. */
  caught(voter: Address): boolean {
    return this.proven.has(voter);
  }

  /**
   * How many coordinators (not convicted) hold a vote for a target from `height` up to `height + window`: who is
   * voting lately. Votes far ahead (which nobody honest casts) do not count.
   */
  votersSince(height: bigint, window = 1024n): number {
    const excluded = this.excluded();
    const voters = new Set<Address>();
    for (const [voter, votes] of this.byVoter) {
      if (excluded.has(voter)) continue;
      for (const h of votes.keys()) {
        if (h >= height && h <= height + window) {
          voters.add(voter);
          break;
        }
      }
    }
    return voters.size;
  }

  /**
   * What the votes held prove about `view` without changing anything: its highest justified checkpoint and its
   * highest final one (never below the tracker's own). Undefined when `view` does not contain the tracker's final
   * checkpoint: such a chain conflicts with a final block and must never be followed.
   */
  evaluate(view: ChainView): FinalityStatus | undefined {
    return this.compute(view)?.status;
  }

  /**
   * Recomputes justification and finality along `view` (the chain now followed) from the final checkpoint up
   * and keeps the result. The final checkpoint only moves up; throws if `view` does not contain it.
   */
  update(view: ChainView): FinalityStatus {
    const result = this.compute(view);
    if (!result) throw new Error(`the chain does not contain final block ${this.status.finalized.height} (${this.status.finalized.hash})`);
    for (const [hash, source] of result.links) this.sticky.set(hash, source);
    if (result.status.finalized.height > this.status.finalized.height) {
      for (const [h, hash] of result.justifiedAbove) if (h <= result.status.finalized.height) this.settled.set(h, hash);
      this.prune(result.status.finalized.height);
    }
    this.status = result.status;
    return this.status;
  }

  private compute(view: ChainView): { status: FinalityStatus; justifiedAbove: Map<bigint, Hex>; links: Map<Hex, Checkpoint> } | undefined {
    const { finalized } = this.status;
    if (view.hashAt(finalized.height) !== finalized.hash) return undefined;
    const excluded = this.excluded();
    const q = this.quorum;
    const justifiedAbove = new Map<bigint, Hex>();
    const isJustified = (c: Checkpoint): boolean => {
      if (view.hashAt(c.height) !== c.hash) return false;
      return c.height <= finalized.height ? this.settled.get(c.height) === c.hash : justifiedAbove.get(c.height) === c.hash;
    };
    let justified = finalized;
    let newFinal = finalized;
    const links = new Map<Hex, Checkpoint>();
    // Only heights with votes can be justified (a sticky link came from votes too), so only those are walked.
    const heights = [...this.targetHeights]
      .filter((h) => h > finalized.height && h <= view.height)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const h of heights) {
      const hash = view.hashAt(h);
      if (!hash) break;
      const stuck = this.sticky.get(hash);
      if (stuck && isJustified(stuck)) {
        justifiedAbove.set(h, hash);
        justified = { hash, height: h };
        if (stuck.height + 1n === h && stuck.height > newFinal.height) newFinal = stuck;
        continue;
      }
      const votes = this.byTarget.get(hash);
      if (!votes) continue;
      const bySource = new Map<string, Vote[]>();
      for (const v of votes.values()) {
        const convictedAt = excluded.get(v.voter);
        if ((convictedAt !== undefined && v.target.height >= convictedAt) || !isJustified(v.source)) continue;
        const key = `${v.source.height}:${v.source.hash}`;
        const list = bySource.get(key) ?? [];
        list.push(v);
        bySource.set(key, list);
      }
      for (const link of bySource.values()) {
        if (link.length < q) continue;
        justifiedAbove.set(h, hash);
        justified = { hash, height: h };
        const source = link[0]!.source;
        links.set(hash, source);
        if (source.height + 1n === h && source.height > newFinal.height) newFinal = source;
        break;
      }
    }
    return { status: { finalized: newFinal, justified }, justifiedAbove, links };
  }

  /** Drops votes that can no longer matter: targets at or below the final height (their links stay). */
  private prune(finalHeight: bigint): void {
    for (const [hash, votes] of this.byTarget) {
      const first = votes.values().next().value;
      if (first && first.target.height <= finalHeight) this.byTarget.delete(hash);
    }
    for (const mine of this.byVoter.values()) for (const h of mine.keys()) if (h + 1024n < finalHeight) mine.delete(h);
    for (const [hash, source] of this.sticky) if (source.height < finalHeight) this.sticky.delete(hash);
    for (const h of this.targetHeights) if (h <= finalHeight) this.targetHeights.delete(h);
  }
}

/**
 * The vote an honest coordinator casts on adopting `head`, or undefined: FFG's honest rule, source = the highest
 * justified checkpoint on its chain below the head, target = the head, and only if `mayVote` allows it.
 */
export function nextVote(
  status: FinalityStatus,
  head: Checkpoint,
  guard: VoteGuardState | undefined,
): { source: Checkpoint; target: Checkpoint } | undefined {
  const source = status.justified;
  if (source.height >= head.height) return undefined;
  return mayVote(guard, source, head) ? { source, target: head } : undefined;
}

/**
 * Whether a coordinator with nothing pending should still seal an (empty) block: finality of a block needs a
 * link from a justified checkpoint at or above it to that checkpoint's child, so while some block above the final
 * one carries transactions, blocks keep coming (at Clique's pace) until the votes finalize them. Waiting for the
 * head to be justified first is not enough: when the votes on a head split (two blocks at one height, or voters
 * with different sources) it never is, and no coordinator's guard lets it vote on that height again. It stops
 * once the transactions are final, and it only runs while a quorum of coordinators is voting (`activeVoters`: those
 * with a vote for a target at or above the transactions' block): a network that cannot finalize (fewer than a quorum
 * up, or a minority side of a partition) makes no empty blocks, only the blocks its transactions need.
 */
export function needsFinalizingBlock(
  status: FinalityStatus,
  head: Checkpoint,
  highestTxHeight: bigint,
  activeVoters: number,
  quorumSize: number,
): boolean {
  return (
    activeVoters >= quorumSize &&
    status.finalized.height < head.height &&
    highestTxHeight > status.finalized.height &&
    highestTxHeight <= head.height
  );
}
