/** How the miner GUI words the miner's phases and figures. */
import type { MinerPhase } from '../../../trainer/miner/status.js';

export const PHASES: Record<MinerPhase, string> = {
  starting: 'Starting',
  'loading-model': 'Loading the model',
  training: 'Training',
  resting: 'Resting (power limit)',
  submitting: 'Submitting',
  waiting: 'Waiting for a task',
  stopped: 'Stopped',
};

export function formatRate(tokensPerSecond: number): string {
  if (tokensPerSecond >= 1000) return `${(tokensPerSecond / 1000).toFixed(1)}k`;
  return tokensPerSecond.toFixed(0);
}

/** At most `n` points, evenly picked (the last always kept), so a long history draws as fast as a short one. */
export function thin<T>(points: T[], n: number): T[] {
  if (points.length <= n) return points;
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(points[Math.round((i * (points.length - 1)) / (n - 1))]!);
  return out;
}
