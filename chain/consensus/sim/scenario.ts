/**
 * One seeded run: N coordinators (some of them a byzantine coalition) and followers under message delay, loss,
 * partitions, crashes, clock offsets and a stream of transactions; then a healing period with everyone up and
 * connected, no loss and no byzantine traffic; then the safety checker's verdict and the liveness smoke check.
 */
import type { Address } from '../../../protocol/address.js';
import type { ChainSpec } from '../../spec.js';
import { faultTolerance, quorum } from '../finality.js';
import { Coalition, type CoalitionMember } from './byzantine.js';
import { SafetyChecker, describeViolation, type SafetyViolation } from './checker.js';
import { VirtualClock } from './clock.js';
import { Network } from './network.js';
import { SimNode, type NodeEvents } from './node.js';
import { Rng } from './rng.js';
import { BlockTree } from './tree.js';

export interface RunOptions {
  seed: number;
  /** Coordinators; drawn from the seed when absent. */
  n?: number;
  /** Byzantine coordinators; drawn from the seed (at most f) when absent. */
  byzantine?: number;
  verbose?: boolean;
}

export interface RunResult {
  seed: number;
  n: number;
  byzantine: number;
  followers: number;
  events: number;
  blocks: number;
  votes: number;
  /** The highest final height any honest node reached. */
  finalHeight: number;
  violations: SafetyViolation[];
  livenessFailures: string[];
  log: string[];
  /** The one command that reproduces this run. */
  command: string;
}

const ACTIVE_MS = 40_000;
const HEAL_MS = 40_000;
const FOLLOWERS = 2;
const N_CHOICES = [1, 2, 3, 3, 4, 4, 4, 5, 6, 7, 7];

export function reproduceCommand(opts: RunOptions): string {
  const extra = `${opts.n !== undefined ? ` --n ${opts.n}` : ''}${opts.byzantine !== undefined ? ` --byzantine ${opts.byzantine}` : ''}`;
  return `node --import tsx chain/consensus/sim/cli.ts --seed ${opts.seed}${extra} --verbose`;
}

export function simSpec(n: number): ChainSpec {
  const coordinators = Array.from({ length: n }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}` as Address);
  return {
    chainId: 31337n,
    coordinators,
    alloc: new Map(),
    blockPeriodMs: 1000,
    outOfTurnDelayMs: 500,
    genesisTimestamp: 1_700_000_000_000n,
    rewards: { contributionBase: 0n, minQuality: 1000, maxQuality: 10_000, inferenceShare: 0n, maxStaleness: 4n },
    model: 'ailo-tiny',
    genesisModelDigest: ('0x' + '00'.repeat(32)) as `0x${string}`,
  };
}

export function runSeed(opts: RunOptions): RunResult {
  const rng = new Rng(opts.seed);
  const n = opts.n ?? rng.pick(N_CHOICES);
  const f = faultTolerance(n);
  const byzantine = opts.byzantine ?? (f >= 1 && rng.chance(0.6) ? rng.int(1, f) : 0);
  if (byzantine > n) throw new Error(`--byzantine ${byzantine} exceeds --n ${n}`);
  const log: string[] = [];
  const say = opts.verbose ? (line: string) => log.push(line) : undefined;
  const spec = simSpec(n);
  const tree = new BlockTree(spec);
  const clock = new VirtualClock();
  const maxDelay = rng.int(20, 800);
  const loss = rng.pick([0, 0, 0.02, 0.1]);
  const net = new Network(clock, rng, { minDelayMs: 1, maxDelayMs: maxDelay, loss });
  const checker = new SafetyChecker(tree);
  let votes = 0;
  let coalition: Coalition | undefined;
  const events: NodeEvents = {
    final: (node, cp, txs) => checker.reportFinal(node.name, cp, txs, clock.now),
    vote: (_node, vote) => {
      votes++;
      coalition?.observe(vote);
    },
    sealed: () => {},
    log: say,
  };
  const byzIndexes = new Set(rng.shuffle([...spec.coordinators.keys()]).slice(0, byzantine));
  const offset = (): number => rng.int(-300, 300);
  const honest: SimNode[] = [];
  const members: CoalitionMember[] = [];
  let id = 0;
  spec.coordinators.forEach((address, i) => {
    if (byzIndexes.has(i)) members.push({ id: id++, address, clockOffsetMs: offset() });
    else
      honest.push(
        new SimNode({ id: id++, name: `c${i}`, address, clockOffsetMs: offset(), syncIntervalMs: 1000 }, spec, tree, clock, net, events),
      );
  });
  for (let i = 0; i < FOLLOWERS; i++) {
    honest.push(new SimNode({ id: id++, name: `f${i}`, clockOffsetMs: offset(), syncIntervalMs: 1000 }, spec, tree, clock, net, events));
  }
  for (const node of honest) net.attach(node);
  coalition = new Coalition(members, honest, spec, tree, clock, net, rng, say);
  say?.(
    `seed ${opts.seed}: N=${n} (quorum ${quorum(n)}, f=${f}), byzantine ${members.map((m) => `c${spec.coordinators.indexOf(m.address)}`).join(',') || 'none'}, ${FOLLOWERS} followers, delay 1-${maxDelay} ms, loss ${loss}`,
  );

  const txCount = rng.int(5, 30);
  for (let i = 0; i < txCount; i++) {
    const at = rng.int(0, ACTIVE_MS - 5000);
    const to = rng.pick(honest);
    clock.at(at, () => {
      const target = to.up ? to : honest.find((x) => x.up);
      say?.(`${(clock.now / 1000).toFixed(3).padStart(8)}s tx${i} submitted to ${target?.name ?? 'nobody (all down)'}`);
      target?.submitTx(`tx${i}`);
    });
  }
  for (let i = rng.int(0, 3); i > 0; i--) {
    const start = rng.int(0, ACTIVE_MS - 2000);
    const end = Math.min(ACTIVE_MS, start + rng.int(1000, 12_000));
    const sides = new Map(honest.map((x) => [x.id, rng.int(0, 1)]));
    clock.at(start, () => {
      say?.(
        `${(clock.now / 1000).toFixed(3).padStart(8)}s partition ${[0, 1]
          .map((s) =>
            honest
              .filter((x) => sides.get(x.id) === s)
              .map((x) => x.name)
              .join(','),
          )
          .join(' | ')}`,
      );
      net.partition(sides);
    });
    clock.at(end, () => {
      say?.(`${(clock.now / 1000).toFixed(3).padStart(8)}s partition healed`);
      net.partition(undefined);
    });
  }
  for (let i = rng.int(0, 4); i > 0; i--) {
    const node = rng.pick(honest);
    const start = rng.int(0, ACTIVE_MS - 1000);
    const end = Math.min(ACTIVE_MS, start + rng.int(500, 10_000));
    clock.at(start, () => node.crash());
    clock.at(end, () => node.restart());
  }
  clock.at(ACTIVE_MS, () => {
    say?.(`${(clock.now / 1000).toFixed(3).padStart(8)}s healing: all up and connected, no loss, no byzantine traffic`);
    net.partition(undefined);
    net.conditions = { ...net.conditions, loss: 0 };
    coalition!.active = false;
    for (const node of honest) node.restart();
  });
  clock.runUntil(ACTIVE_MS + HEAL_MS);

  checker.checkEnd(honest.map((x) => ({ node: x.name, chain: x.chain(), onChain: (tx: string) => x.onChain(tx) })));
  const livenessFailures: string[] = [];
  if (n - byzantine >= quorum(n)) {
    for (const node of honest) {
      const fin = node.finalized.height;
      const chain = node.chain();
      for (let i = 0; i < txCount; i++) {
        const tx = `tx${i}`;
        let at: bigint | undefined;
        for (let h = chain.height; h > 0n && at === undefined; h--) if (tree.get(chain.hashAt(h)!)!.txs.includes(tx)) at = h;
        if (at === undefined) livenessFailures.push(`${node.name}: ${tx} is not on its chain (head ${chain.height}, final ${fin})`);
        else if (at > fin)
          livenessFailures.push(
            `${node.name}: ${tx} at height ${at} is not final (final ${fin}, justified ${node.justified.height}, head ${chain.height})`,
          );
      }
    }
  }
  const result: RunResult = {
    seed: opts.seed,
    n,
    byzantine,
    followers: FOLLOWERS,
    events: clock.events,
    blocks: tree.size - 1,
    votes: votes + coalition.votes,
    finalHeight: Number(checker.finalHeight),
    violations: checker.violations,
    livenessFailures,
    log,
    command: reproduceCommand(opts),
  };
  if (opts.verbose) {
    for (const node of honest)
      log.push(`end ${node.name}: head ${node.head.header.height}, justified ${node.justified.height}, final ${node.finalized.height}`);
    log.push(verdict(result));
  }
  return result;
}

export function verdict(r: RunResult): string {
  const lines = [
    `seed ${r.seed} (N=${r.n}, byzantine ${r.byzantine}): ${r.violations.length === 0 ? 'SAFE' : `${r.violations.length} SAFETY VIOLATION(S)`}, ${r.livenessFailures.length === 0 ? 'live' : `${r.livenessFailures.length} LIVENESS FAILURE(S)`}, final height ${r.finalHeight}, ${r.blocks} blocks, ${r.votes} votes, ${r.events} events`,
  ];
  for (const v of r.violations) lines.push(`  ${describeViolation(v)}`);
  for (const l of r.livenessFailures.slice(0, 10)) lines.push(`  liveness: ${l}`);
  if (r.violations.length > 0 || r.livenessFailures.length > 0) lines.push(`  reproduce: ${r.command}`);
  return lines.join('\n');
}
