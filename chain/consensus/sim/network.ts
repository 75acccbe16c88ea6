/**
 * The simulated network: every message gets a seeded delay, may be lost, is dropped between the two sides of a
 * partition, and is lost when it reaches a node that is down.
 */
import type { Hex } from '../../../protocol/bytes.js';
import type { Vote } from '../finality.js';
import type { VirtualClock } from './clock.js';
import type { Rng } from './rng.js';
import type { SimBlock } from './tree.js';

export type Message =
  | { kind: 'block'; block: SimBlock }
  | { kind: 'vote'; vote: Vote }
  | { kind: 'tx'; id: string }
  /** Periodic sync: what the sender follows and holds, so a peer can send what it lacks. */
  | { kind: 'status'; head: Hex; finalizedHeight: bigint; voteDigest: number; pendingTxs: string[] }
  | { kind: 'getBlocks'; hash: Hex }
  | { kind: 'blocks'; blocks: SimBlock[] }
  | { kind: 'votes'; votes: Vote[] };

export interface Peer {
  readonly id: number;
  readonly up: boolean;
  receive(from: number, msg: Message): void;
}

export interface NetworkConditions {
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability that a message is lost. */
  loss: number;
}

export class Network {
  private readonly peers: Peer[] = [];
  /** Partition side by node id; nodes absent from the map (or no partition) reach everyone. */
  private sides: Map<number, number> | undefined;
  sent = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly rng: Rng,
    public conditions: NetworkConditions,
  ) {}

  attach(peer: Peer): void {
    this.peers[peer.id] = peer;
  }

  partition(sides: Map<number, number> | undefined): void {
    this.sides = sides;
  }

  reachable(from: number, to: number): boolean {
    if (!this.sides) return true;
    const a = this.sides.get(from);
    const b = this.sides.get(to);
    return a === undefined || b === undefined || a === b;
  }

  send(from: number, to: number, msg: Message): void {
    if (from === to || !this.reachable(from, to)) return;
    this.sent++;
    if (this.rng.chance(this.conditions.loss)) return;
    const { minDelayMs, maxDelayMs } = this.conditions;
    this.clock.after(this.rng.int(minDelayMs, maxDelayMs), () => {
      const peer = this.peers[to]!;
      if (peer.up && this.reachable(from, to)) peer.receive(from, msg);
    });
  }

  /** Sends to every attached node except the sender (and any in `except`). */
  broadcast(from: number, msg: Message, except?: ReadonlySet<number>): void {
    for (const p of this.peers) if (p && !except?.has(p.id)) this.send(from, p.id, msg);
  }

  /** Delivers without loss or partition: the byzantine coalition's direct line (it controls its own links). */
  inject(from: number, to: number, msg: Message): void {
    this.sent++;
    this.clock.after(this.rng.int(this.conditions.minDelayMs, this.conditions.maxDelayMs), () => {
      const peer = this.peers[to]!;
      if (peer.up) peer.receive(from, msg);
    });
  }
}
