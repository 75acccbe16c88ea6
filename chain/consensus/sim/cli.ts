/**
 * Runs the consensus simulation.
 *   node --import tsx chain/consensus/sim/cli.ts                      seeds 1..300 within f, plus the over-f control
 *   node --import tsx chain/consensus/sim/cli.ts --seed 1234 [--n 4 --byzantine 1] [--verbose]   one seed
 *   node --import tsx chain/consensus/sim/cli.ts --from 1 --count 1000 [--n 4 --byzantine 1]
 * Exit status 1 when a run within f breaks safety or liveness.
 */
import { parseArgs } from 'node:util';
import { CONTROL_RUNS, summarize, runSeeds } from './suite.js';
import { runSeed, verdict } from './scenario.js';

const HELP = `usage: sim [--seed S | --from S --count K] [--n N] [--byzantine B] [--verbose] [--no-control]
  --seed S        run one seed and print its event log (with --verbose) and the checker's verdict
  --from, --count run seeds S..S+K-1 (default 1, 300) and print the figures
  --n, --byzantine fix the coordinator count and the byzantine count instead of drawing them from the seed
  --no-control    skip the over-f control runs that show the checker can fail`;

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

function main(): number {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      from: { type: 'string' },
      count: { type: 'string' },
      n: { type: 'string' },
      byzantine: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'no-control': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const n = int('n', values.n);
  if (n !== undefined && (n < 1 || n > 64)) throw new Error('--n must be between 1 and 64');
  const byzantine = int('byzantine', values.byzantine);
  const seed = int('seed', values.seed);
  if (seed !== undefined) {
    const r = runSeed({ seed, n, byzantine, verbose: values.verbose });
    for (const line of r.log) console.log(line);
    if (!values.verbose) console.log(verdict(r));
    return r.violations.length > 0 || r.livenessFailures.length > 0 ? 1 : 0;
  }
  const from = int('from', values.from) ?? 1;
  const count = int('count', values.count) ?? 300;
  const main = runSeeds(Array.from({ length: count }, (_, i) => ({ seed: from + i, n, byzantine })));
  console.log(summarize('within f', main));
  for (const r of main.failed.slice(0, 20)) console.log(verdict(r));
  if (!values['no-control'] && n === undefined && byzantine === undefined) {
    const control = runSeeds(CONTROL_RUNS);
    console.log(summarize('control, over f (violations expected)', control));
  }
  return main.failed.length > 0 ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (e) {
  console.error(`sim: ${(e as Error).message}\n${HELP}`);
  process.exitCode = 2;
}
