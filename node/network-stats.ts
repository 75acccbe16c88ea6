/**
 * Network activity as this node sees it: work reported by miners and peers over a sliding window, from which
 * the status route derives active nodes and the global training rate ("hashrate", in tokens a second).
 */
export const ACTIVITY_WINDOW_MS = 5 * 60_000;

interface WorkSample {
  at: number;
  tokens: number;
}

export class NetworkStats {
  private readonly work = new Map<string, WorkSample[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Records `tokens` trained by `participant` (a miner wallet or a peer id) just now. */
  recordWork(participant: string, tokens: number): void {
    const samples = this.work.get(participant) ?? [];
    samples.push({ at: this.now(), tokens });
    this.work.set(participant, samples);
    this.prune();
  }

  private prune(): void {
    const cutoff = this.now() - ACTIVITY_WINDOW_MS;
    for (const [who, samples] of this.work) {
      const kept = samples.filter((s) => s.at >= cutoff);
      if (kept.length === 0) this.work.delete(who);
      else this.work.set(who, kept);
    }
  }

  /** Participants that reported work within the window. */
  activeParticipants(): number {
    this.prune();
    return this.work.size;
  }

  /** Tokens a second over the window. */
  tokensPerSecond(): number {
    this.prune();
    let tokens = 0;
    for (const samples of this.work.values()) for (const s of samples) tokens += s.tokens;
    return tokens / (ACTIVITY_WINDOW_MS / 1000);
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
