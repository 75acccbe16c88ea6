/**
 * The peers a node talks to, and the standing of every node id it has dealt with.
 * - The table (at most MAX_PEERS URLs): the operator's --peers, plus URLs learned from proven peers' discovery
 *   answers or from proven nodes' useful gossip. A URL is dialled for anything but the handshake only once the node
 *   serving it proved its id there (see envelope.ts); learned URLs wait as bounded candidates until then.
 * - Standing (score, ban) belongs to a proven node id, never to a URL or header: a peer that sent provably invalid
 *   data it signed loses points, and below the ban line it is left alone for a while. Failing to answer is no fault:
 *   it only backs the URL off.
 */
import type { Address } from '../../protocol/address.js';
import { originOf } from './envelope.js';

export const MAX_PEERS = 32;
/** Learned URLs waiting for a handshake; more are dropped until some are tried. */
export const MAX_CANDIDATES = 16;
const BAN_BELOW = -50;
const BAN_MS = 10 * 60_000;
const MAX_BACKOFF_MS = 30_000;
/** Standings kept for node ids outside the table (a spray of identities cannot grow memory without bound). */
const MAX_STANDINGS = 4_096;

export interface PeerInfo {
  url: string;
  /** The node id its handshake proved; undefined until then. */
  node?: Address;
  /** Given by the operator (--peers): never evicted. */
  configured: boolean;
  score: number;
  bannedUntil: number;
  lastSeen: number;
  /** Consecutive failures to answer; an unreachable peer is retried with exponential backoff, never banned. */
  failures: number;
  retryAt: number;
}

interface Standing {
  score: number;
  bannedUntil: number;
}

interface TableEntry {
  url: string;
  node?: Address;
  configured: boolean;
  lastSeen: number;
  failures: number;
  retryAt: number;
}

export class PeerSet {
  private readonly peers = new Map<string, TableEntry>();
  private readonly standings = new Map<Address, Standing>();
  private readonly candidates = new Set<string>();
  /** This node's own id, once known: a URL that proves to be this node is dropped. */
  selfId: Address | undefined;

  constructor(
    /** This node's own origin. */
    readonly self: string,
    initial: string[],
    private readonly now: () => number = Date.now,
    /** Node ids never evicted once in the table (the genesis coordinators). */
    private readonly protectedIds: ReadonlySet<Address> = new Set(),
  ) {
    for (const url of initial) this.addConfigured(url);
  }

  /** Adds an operator-given URL (normalized to its origin); ignores itself, duplicates and malformed URLs. */
  addConfigured(raw: string): boolean {
    const url = originOf(raw);
    if (!url || url === this.self) return false;
    const known = this.peers.get(url);
    if (known) {
      known.configured = true;
      return false;
    }
    this.peers.set(url, { url, configured: true, lastSeen: 0, failures: 0, retryAt: 0 });
    return true;
  }

  /** Queues a learned URL for a handshake; false when it is known already, malformed, or the queue is full. */
  propose(raw: string): boolean {
    const url = originOf(raw);
    if (!url || url === this.self || this.peers.has(url) || this.candidates.has(url) || this.candidates.size >= MAX_CANDIDATES)
      return false;
    this.candidates.add(url);
    return true;
  }

  /** Takes up to `n` queued candidates, oldest first. */
  takeCandidates(n: number): string[] {
    const out = [...this.candidates].slice(0, n);
    for (const url of out) this.candidates.delete(url);
    return out;
  }

  get candidateCount(): number {
    return this.candidates.size;
  }

  /** Operator URLs whose handshake is still to be done (and not backing off). */
  unproven(): string[] {
    const t = this.now();
    return [...this.peers.values()].filter((p) => !p.node && p.retryAt <= t).map((p) => p.url);
  }

  /**
   * Records a handshake: `node` proved it serves `url`. A configured URL gets its id; a learned one is added if there
   * is room (or a failing or banned learned non-coordinator peer to evict), and if that node is not in the table yet.
   */
  admit(url: string, node: Address): boolean {
    if (node === this.selfId) {
      this.peers.delete(url);
      return false;
    }
    if (this.isBanned(node)) return false;
    const known = this.peers.get(url);
    if (known) {
      known.node = node;
      return true;
    }
    if ([...this.peers.values()].some((p) => p.node === node)) return false;
    if (this.peers.size >= MAX_PEERS && !this.evictOne()) return false;
    this.peers.set(url, { url, node, configured: false, lastSeen: 0, failures: 0, retryAt: 0 });
    return true;
  }

  /** Makes room by dropping a learned peer that keeps failing or is banned; never a configured peer or a coordinator. */
  private evictOne(): boolean {
    for (const p of this.peers.values()) {
      if (p.configured || (p.node && this.protectedIds.has(p.node))) continue;
      if (p.failures >= 5 || (p.node && this.isBanned(p.node))) {
        this.peers.delete(p.url);
        return true;
      }
    }
    return false;
  }

  /** Proven peers not banned and not waiting out a backoff: the URLs to sync and gossip with. */
  active(): string[] {
    const t = this.now();
    return [...this.peers.values()].filter((p) => p.node && !this.isBanned(p.node) && p.retryAt <= t).map((p) => p.url);
  }

  /** The proven node id serving `url`. */
  nodeAt(url: string): Address | undefined {
    return this.peers.get(url)?.node;
  }

  /** The URL where `node` proved itself, if it is an active peer. */
  urlOf(node: Address): string | undefined {
    return this.active().find((url) => this.peers.get(url)!.node === node);
  }

  has(url: string): boolean {
    return this.peers.has(url);
  }

  /**
   * The peer did not answer: wait 250 ms, 500 ms, ... up to 30 s before asking it again. An operator's peer gone
   * for a while is proven again when back (it may have come back with another key).
   */
  unreachable(url: string): void {
    const p = this.peers.get(url);
    if (!p) return;
    p.failures++;
    if (p.configured && p.failures >= 3) p.node = undefined;
    p.retryAt = this.now() + Math.min(MAX_BACKOFF_MS, 125 * 2 ** Math.min(p.failures, 10));
  }

  /** Whether `node` proved itself at a URL in the table, is not banned, and answered within the last `withinMs`. */
  heardFrom(node: Address, withinMs: number): boolean {
    const t = this.now();
    return [...this.peers.values()].some((p) => p.node === node && t - p.lastSeen <= withinMs) && !this.isBanned(node);
  }

  /** Peers that answered within the last `withinMs`. */
  reachable(withinMs: number): number {
    const t = this.now();
    return [...this.peers.values()].filter((p) => t - p.lastSeen <= withinMs).length;
  }

  list(): PeerInfo[] {
    return [...this.peers.values()].map((p) => ({ ...p, ...(p.node ? this.standing(p.node) : { score: 0, bannedUntil: 0 }) }));
  }

  seen(url: string): void {
    const p = this.peers.get(url);
    if (!p) return;
    p.lastSeen = this.now();
    p.failures = 0;
    p.retryAt = 0;
    if (p.node) {
      const s = this.standingFor(p.node);
      s.score = Math.min(s.score + 1, 100);
    }
  }

  /** A node id's score and ban (zero for one never dealt with). */
  standing(node: Address): Standing {
    const s = this.standings.get(node);
    return s ? { ...s } : { score: 0, bannedUntil: 0 };
  }

  private standingFor(node: Address): Standing {
    let s = this.standings.get(node);
    if (!s) {
      if (this.standings.size >= MAX_STANDINGS) this.forgetOneStanding();
      s = { score: 0, bannedUntil: 0 };
      this.standings.set(node, s);
    }
    return s;
  }

  /** Drops the oldest standing of a node outside the table, preferring one not banned. */
  private forgetOneStanding(): void {
    const inTable = new Set([...this.peers.values()].map((p) => p.node));
    const t = this.now();
    let fallback: Address | undefined;
    for (const [node, s] of this.standings) {
      if (inTable.has(node)) continue;
      if (s.bannedUntil <= t) {
        this.standings.delete(node);
        return;
      }
      fallback ??= node;
    }
    if (fallback) this.standings.delete(fallback);
  }

  /** Takes points off a proven node id; returns true when that bans it. */
  penalize(node: Address, points: number): boolean {
    const s = this.standingFor(node);
    s.score -= points;
    if (s.score < BAN_BELOW) {
      s.bannedUntil = this.now() + BAN_MS;
      s.score = 0;
      return true;
    }
    return false;
  }

  isBanned(node: Address): boolean {
    return (this.standings.get(node)?.bannedUntil ?? 0) > this.now();
  }
}
