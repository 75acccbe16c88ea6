/**
 * `npm run redteam`: starts a real devnet node (ailo-tiny) in a temporary folder, runs the red-team suite against its
 * HTTP API, prints one row per attack class, and exits 1 when any attacker was paid (or another check failed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REDTEAM_FEDERATION, startDevnetTarget } from './devnet-node.js';
import { formatReport } from './report.js';
import { runRedTeam } from './suite.js';

const HELP = `npm run redteam -- [--tries N] [--seed N] [--detail] [--verbose] [--keep]

Starts a devnet node (ailo-tiny) on 127.0.0.1 with a fresh data folder, then attacks its proof of contribution over
HTTP only: random noise, updates trained on other text or on held-out rows, copies (partial, scaled, sign-flipped,
replayed) of an honest miner's accepted updates, the resale of a published model change, overfit updates that
worsen held-out loss, half the asked work, and theft of another wallet's task slots. Each class uses fresh wallets.
Prints a table (class, tries, accepted, ALC paid, verdict, refusal codes) and exits 1 if any attacker was paid,
half work earned more than 60% of the honest reward, a task slot was stolen, or the honest miner was refused more
often than chance explains (one scored refusal, or 5% of a longer run).

  --tries N   rounds of attacks; each class tries each of its variants once per round (default 2; about
              2.5 minutes a round on 2 cores at the devnet's task size, 4 rows x 32 tokens x 12 steps)
  --seed N    seed of the attackers' random choices (default: random; printed)
  --detail    list every attempt under the table
  --verbose   print the node's log and each attempt as it happens
  --keep      keep the node's data folder (printed) instead of removing it`;

function fail(message: string): never {
  console.error(`redteam: ${message}`);
  process.exit(2);
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        tries: { type: 'string' },
        seed: { type: 'string' },
        detail: { type: 'boolean' },
        verbose: { type: 'boolean' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}\n\n${HELP}`);
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const tries = args.tries === undefined ? 2 : Number(args.tries);
  if (!Number.isInteger(tries) || tries < 1 || tries > 100) fail(`--tries must be an integer 1..100, got ${args.tries}`);
  const seed = args.seed === undefined ? undefined : Number(args.seed);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32))
    fail(`--seed must be an integer 0..2^32-1, got ${args.seed}`);
  const federation = REDTEAM_FEDERATION;
  const verbose = (line: string): void => console.error(line);
  const target = await startDevnetTarget({ federation, log: args.verbose ? (l) => verbose(`node: ${l}`) : undefined, keep: args.keep });
  const corpusCache = mkdtempSync(join(tmpdir(), 'ailo-redteam-corpus-'));
  console.error(`redteam: devnet node at ${target.url} (data ${target.dataDir}); ${tries} round(s)`);
  try {
    const report = await runRedTeam({
      url: target.url,
      tries,
      tasksPerWallet: federation.tasksPerWallet,
      corpusCacheDir: corpusCache,
      seed,
      log: args.verbose ? verbose : undefined,
    });
    console.log(formatReport(report, { detail: args.detail }));
    return report.violations.length === 0 ? 0 : 1;
  } finally {
    await target.stop();
    rmSync(corpusCache, { recursive: true, force: true });
    if (args.keep) console.error(`redteam: kept ${target.dataDir}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`redteam: ${err.stack ?? err.message}`);
    process.exit(2);
  },
);
