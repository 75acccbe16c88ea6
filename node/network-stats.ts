/**
 * Network activity as this node sees it, from the miners it coordinates: who asked for a task or had work accepted
 * recently (active miners), and the training rate ("hashrate", tokens a second) as an exponentially weighted moving
 * average of accepted work, so both fall back to zero within minutes once every miner stops.
 */

/** A miner counts as active for this long after its last task request or accepted submission. */
export const ACTIVE_MINER_MS = 2 * 60_000;
/** Time constant (ms) of the training rate's exponential decay: a stopped network's rate falls by e every minute. */
export const RATE_TAU_MS = 60_000;

interface WorkSample {
  at: number;
  tokens: number;
}

export class NetworkStats {
  private readonly seen = new Map<string, number>();
  private samples: WorkSample[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** `participant` (a miner wallet) asked for a task just now. */
  recordSeen(participant: string): void {
    this.seen.set(participant, this.now());
    this.prune();
  }

  /** `participant` had `tokens` of trained work accepted just now. */
  recordWork(participant: string, tokens: number): void {
    this.recordSeen(participant);
    this.samples.push({ at: this.now(), tokens });
  }

  private prune(): void {
    const t = this.now();
    for (const [who, at] of this.seen) if (t - at > ACTIVE_MINER_MS) this.seen.delete(who);
    // Samples older than 10 time constants weigh under 0.005%.
    this.samples = this.samples.filter((s) => t - s.at <= 10 * RATE_TAU_MS);
  }

  /** Miners that asked for a task or had work accepted within ACTIVE_MINER_MS. */
  activeParticipants(): number {
    this.prune();
    return this.seen.size;
  }

  /**
   * Tokens a second: sum of tokens * exp(-age / tau) / tau over accepted work (an exponentially weighted moving
   * average of the rate; for a steady stream it equals that stream's rate).
   */
  tokensPerSecond(): number {
    this.prune();
    const t = this.now();
    let rate = 0;
    for (const s of this.samples) rate += s.tokens * Math.exp(-(t - s.at) / RATE_TAU_MS);
    return rate / (RATE_TAU_MS / 1000);
  }
}

/** "3.8 Tok/s", "12.4 kTok/s": the seed's hashrate string. */
export function formatTokenRate(perSecond: number): string {
  const units = ['Tok/s', 'kTok/s', 'MTok/s', 'GTok/s'];
  let v = perSecond;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
