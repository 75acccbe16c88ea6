/**
 * Who closes each training round (issue 13): every coordinator issues tasks and verifies the submissions it accepts,
 * but one closes the round on a version and publishes the next: the coordinators that are live, in genesis order, and
 * of those the one at `version mod count`, so the duty rotates with each version and every node computes the same
 * answer from the same view. A coordinator is live to this node when it is this node, or a peer that proved its id
 * and answered within LIVE_MS; one killed mid-round stops answering, and within LIVE_MS the next live coordinator
 * closes its round. Two nodes whose views differ for a moment may both close one round: the ledger takes one
 * `model_version` per version, every coordinator recomputes it (model-replica.ts) and follows the ledger's.
 */
import type { Address } from '../../protocol/address.js';

/** How long a coordinator that stopped answering still counts as live (the sync loop asks every peer each second). */
export const LIVE_MS = 10_000;

export class RoundSchedule {
  constructor(
    /** The genesis coordinators, in genesis order. */
    readonly coordinators: readonly Address[],
    /** This node's coordinator address (always live to itself), if it is one. */
    readonly self: Address | undefined,
    /** Whether this node heard from `coordinator` recently (PeerSet.heardFrom). */
    private readonly heardFrom: (coordinator: Address) => boolean,
    /** Coordinators convicted of equivocation (never scheduled). */
    private readonly convicted: (coordinator: Address) => boolean = () => false,
    /** Where a coordinator is reached (this node's URL for itself, a proven peer URL for the others). */
    private readonly urlOf: (coordinator: Address) => string | undefined = () => undefined,
  ) {}

  /** Every coordinator with where to reach it and whether it is live: where a miner goes when its node stops answering. */
  directory(): { address: Address; url?: string; live: boolean }[] {
    const live = new Set(this.live());
    return this.coordinators.map((address) => ({ address, url: this.urlOf(address), live: live.has(address) }));
  }

  /** The live coordinators, in genesis order. */
  live(): Address[] {
    return this.coordinators.filter((c) => !this.convicted(c) && (c === this.self || this.heardFrom(c)));
  }

  /** The coordinator that closes the round on `version` (undefined when none is live). */
  runner(version: number): Address | undefined {
    const live = this.live();
    return live.length === 0 ? undefined : live[version % live.length];
  }
}
