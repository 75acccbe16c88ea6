/** Many seeds at once, with the figures the CLI and the test print. */
import { faultTolerance } from '../finality.js';
import { runSeed, type RunOptions, type RunResult } from './scenario.js';

export interface SuiteResult {
  runs: number;
  events: number;
  blocks: number;
  votes: number;
  /** Highest final height per run. */
  finalHeights: number[];
  violatingSeeds: RunResult[];
  livenessFailedSeeds: RunResult[];
  /** Runs within f that broke safety or liveness. */
  failed: RunResult[];
  byN: Map<number, number>;
  wallMs: number;
}

/** Over-f runs: N=4 with 2 byzantine, N=7 with 3 (accountable safety allows conflicting finality there). */
export const CONTROL_RUNS: RunOptions[] = [
  ...Array.from({ length: 20 }, (_, i) => ({ seed: 9000 + i, n: 4, byzantine: 2 })),
  ...Array.from({ length: 10 }, (_, i) => ({ seed: 9100 + i, n: 7, byzantine: 3 })),
];

export function runSeeds(runs: RunOptions[]): SuiteResult {
  const started = performance.now();
  const out: SuiteResult = {
    runs: 0,
    events: 0,
    blocks: 0,
    votes: 0,
    finalHeights: [],
    violatingSeeds: [],
    livenessFailedSeeds: [],
    failed: [],
    byN: new Map(),
    wallMs: 0,
  };
  for (const opts of runs) {
    const r = runSeed(opts);
    out.runs++;
    out.events += r.events;
    out.blocks += r.blocks;
    out.votes += r.votes;
    out.finalHeights.push(r.finalHeight);
    out.byN.set(r.n, (out.byN.get(r.n) ?? 0) + 1);
    if (r.violations.length > 0) out.violatingSeeds.push(r);
    if (r.livenessFailures.length > 0) out.livenessFailedSeeds.push(r);
    const withinF = r.byzantine <= faultTolerance(r.n);
    if (withinF && (r.violations.length > 0 || r.livenessFailures.length > 0)) out.failed.push(r);
  }
  out.wallMs = performance.now() - started;
  return out;
}

export function summarize(label: string, s: SuiteResult): string {
  const h = [...s.finalHeights].sort((a, b) => a - b);
  const pct = (p: number): number => h[Math.min(h.length - 1, Math.floor(p * h.length))] ?? 0;
  const byN = [...s.byN]
    .sort((a, b) => a[0] - b[0])
    .map(([n, k]) => `N=${n}:${k}`)
    .join(' ');
  return [
    `${label}: ${s.runs} seeds (${byN}), ${s.events} events, ${s.blocks} blocks, ${s.votes} votes`,
    `  final heights: min ${h[0] ?? 0}, median ${pct(0.5)}, max ${h[h.length - 1] ?? 0}`,
    `  safety violations: ${s.violatingSeeds.length} seeds${
      s.violatingSeeds.length
        ? ` (${s.violatingSeeds
            .slice(0, 10)
            .map((r) => r.seed)
            .join(', ')})`
        : ''
    }`,
    `  liveness failures: ${s.livenessFailedSeeds.length} seeds${
      s.livenessFailedSeeds.length
        ? ` (${s.livenessFailedSeeds
            .slice(0, 10)
            .map((r) => r.seed)
            .join(', ')})`
        : ''
    }`,
    `  wall time: ${(s.wallMs / 1000).toFixed(1)} s`,
  ].join('\n');
}
