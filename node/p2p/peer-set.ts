/**
 * The peers a node talks to: those given with --peers, plus the peers they list (discovery), each with a score.
 * A peer that serves an invalid block or transaction, or fails to answer, loses points; below the ban line it is
 * left alone for a while, so a hostile or broken peer cannot keep a node busy.
 */
export const MAX_PEERS = 32;
const BAN_BELOW = -50;
const BAN_MS = 10 * 60_000;

export interface PeerInfo {
  url: string;
  score: number;
  bannedUntil: number;
  lastSeen: number;
  /** Consecutive failures to answer; an unreachable peer is retried with exponential backoff, never banned. */
  failures: number;
  retryAt: number;
}

const MAX_BACKOFF_MS = 30_000;

export class PeerSet {
  private readonly peers = new Map<string, PeerInfo>();
  /** The operator's --peers: never evicted. */
  private readonly configured = new Set<string>();

  constructor(readonly self: string, initial: string[], private readonly now: () => number = Date.now) {
    for (const url of initial) if (this.add(url)) this.configured.add(new URL(url).origin);
  }

  /** Normalizes and adds a peer URL; ignores itself, duplicates, malformed URLs and additions beyond MAX_PEERS. */
  add(raw: string): boolean {
    let url: string;
    try {
      const u = new URL(raw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
      url = u.origin;
    } catch {
      return false;
    }
    if (url === this.self || this.peers.has(url)) return false;
    if (this.peers.size >= MAX_PEERS && !this.evictOne()) return false;
    this.peers.set(url, { url, score: 0, bannedUntil: 0, lastSeen: 0, failures: 0, retryAt: 0 });
    return true;
  }

  /** Makes room by dropping a learned (not configured) peer that keeps failing or is banned, so junk cannot fill the set. */
  private evictOne(): boolean {
    const t = this.now();
    for (const p of this.peers.values()) {
      if (this.configured.has(p.url)) continue;
      if (p.failures >= 5 || p.bannedUntil > t) {
        this.peers.delete(p.url);
        return true;
      }
    }
    return false;
  }

  /** Peers not banned and not waiting out a backoff after failing to answer. */
  active(): string[] {
    const t = this.now();
    return [...this.peers.values()].filter((p) => p.bannedUntil <= t && p.retryAt <= t).map((p) => p.url);
  }

  /** The peer did not answer: wait 250 ms, 500 ms, ... up to 30 s before asking it again. */
  unreachable(url: string): void {
    const p = this.peers.get(url);
    if (!p) return;
    p.failures++;
    p.retryAt = this.now() + Math.min(MAX_BACKOFF_MS, 125 * 2 ** Math.min(p.failures, 10));
  }

  /** Peers that answered within the last `withinMs`. */
  reachable(withinMs: number): number {
    const t = this.now();
    return [...this.peers.values()].filter((p) => t - p.lastSeen <= withinMs).length;
  }

  list(): PeerInfo[] {
    return [...this.peers.values()].map((p) => ({ ...p }));
  }

  seen(url: string): void {
    const p = this.peers.get(url);
    if (p) {
      p.lastSeen = this.now();
      p.failures = 0;
      p.retryAt = 0;
      p.score = Math.min(p.score + 1, 100);
    }
  }

  /** Takes points off a peer; returns true when that bans it. */
  penalize(url: string, points: number): boolean {
    const p = this.peers.get(url);
    if (!p) return false;
    p.score -= points;
    if (p.score < BAN_BELOW) {
      p.bannedUntil = this.now() + BAN_MS;
      p.score = 0;
      return true;
    }
    return false;
  }

  isBanned(url: string): boolean {
    const p = this.peers.get(url);
    return p !== undefined && p.bannedUntil > this.now();
  }
}
