// AILO-1B training on this machine's CPU (issue 14): the layout the miner's planner picks for the machine's memory
// (layer-wise with activation checkpointing, 8-bit AdamW moments where float32 ones do not fit), a few steps in a fresh
// process (trainer/training/step-probe.ts), with time per step, tokens a second, peak memory beside the plan, and model
// FLOPs utilisation against the matmul speed onnxruntime reaches here in the same run. Slow on 2 cores: not in CI.
// Then one task through a real ailo-node whose genesis model is ailo-1b and a real ailo-miner (throughNode).
// `npm run bench -- ailo-1b`; AILO_BENCH_SEQ sets the probe's sequence length (default 128; the node part's is
// AILO_BENCH_NODE_SEQ, default 64), AILO_BENCH_STEPS the timed steps, AILO_BENCH_MEMORY the probe's memory in GiB
// (as `ailo-miner --memory`; default what the OS reports available), AILO_BENCH_TORCH=0 skips PyTorch,
// AILO_BENCH_ONLY=probe|node one of the two parts, AILO_BENCH_MODEL the node part's model (ailo-small to try it in
// minutes), AILO_BENCH_RECOMPUTE the coordinator's recomputation tolerance (0 turns it off), AILO_BENCH_KEEP=1 keeps
// the node's folder.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { freemem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { taskRequestSigner } from '../node/ailo-miner/task-signer.js';
import { DEFAULT_FEDERATION } from '../node/federation/service.js';
import { MIN_ROWS } from '../node/federation/row-statistics.js';
import { formatAlc } from '../protocol/amount.js';
import { toHex } from '../protocol/bytes.js';
import { NodeClient } from '../protocol/client.js';
import { privateKeyToAddress, randomPrivateKey } from '../protocol/signature.js';
import { paramCount, presetConfig, toHfConfigJson } from '../trainer/model/config.js';
import { findTorchPython, torchBench } from '../trainer/reference/torch.js';
import { chooseTrainingSettings, formatBytes, memoryNeeded, settingsName, trainingMemoryPlan } from '../trainer/model/memory-plan.js';
import { matmulFlops } from './matmul.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = createRequire(import.meta.url).resolve('tsx/cli');

export async function run(): Promise<void> {
  const only = process.env.AILO_BENCH_ONLY;
  const seq = Number(process.env.AILO_BENCH_SEQ ?? 128);
  if (only !== 'node') await inProcess(seq);
  if (only !== 'probe')
    await throughNode(
      process.env.AILO_BENCH_MODEL ?? 'ailo-1b',
      Number(process.env.AILO_BENCH_NODE_SEQ ?? 64),
      await matmulFlops('cpu', 1024, 8),
    );
}

/** A few steps in a fresh process, in the layout the planner picks for this machine, beside PyTorch. */
async function inProcess(seq: number): Promise<void> {
  const cfg = presetConfig('ailo-1b');
  const P = paramCount(cfg);
  const steps = Number(process.env.AILO_BENCH_STEPS ?? 1);
  // AILO_BENCH_MEMORY (GiB) allows what `ailo-miner --memory` would; else what the OS reports available.
  const allowed = Number(process.env.AILO_BENCH_MEMORY ?? 0);
  const budget = allowed > 0 ? Math.min(allowed * 2 ** 30, freemem()) : freemem();
  const choice = chooseTrainingSettings(cfg, 1, seq, budget);
  console.log(
    `ailo-1b (${P.toLocaleString('en-US')} params), batch 1x${seq}, cpu, ${formatBytes(budget)} ${allowed > 0 ? 'allowed' : 'available'}:`,
  );
  if (!choice.fits) {
    const smallest = choice.smallest;
    console.log(
      `  does not fit: the smallest plan (${settingsName(smallest)}, ${formatBytes(smallest.total)}) needs ${formatBytes(memoryNeeded(smallest))} with the planner's headroom`,
    );
    return;
  }
  const plan = choice.plan;
  console.log(`  the planner's choice: ${settingsName(plan)}, planned ${formatBytes(plan.total)}`);
  // GPU providers train fused (their state stays on the device); on a GPU bench/device-check.ts times it.
  const fused = trainingMemoryPlan(cfg, 1, seq);
  console.log(
    `  webgpu: not run here: a GPU provider trains fused, planned at ${formatBytes(fused.total)}, and this machine's Vulkan device (lavapipe, a CPU Vulkan) has the ${formatBytes(freemem())} of host memory available`,
  );
  const flops = await matmulFlops('cpu', 1024, 8);
  console.log(`  onnxruntime matmul here (1024^3, float32): ${(flops / 1e9).toFixed(1)} GFLOP/s`);
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [tsx, join(root, 'trainer/training/step-probe.ts'), 'ailo-1b', 'cpu', '1', String(seq), String(steps), plan.layout, plan.moments],
    { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() } },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.log(`  failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    return;
  }
  const p = JSON.parse(line) as { tokensPerSecond: number; msPerStep: number; maxRss: number; rssBefore: number; loss: number };
  const measured = p.maxRss - p.rssBefore;
  // Model FLOPs a token: 6 per parameter (forward and backward; Kaplan et al. 2020), not counting the recomputation.
  const modelFlops = 6 * P * p.tokensPerSecond;
  console.log(`  ${(p.msPerStep / 1000).toFixed(1)} s a step, ${p.tokensPerSecond.toFixed(2)} tokens/s, loss ${p.loss.toFixed(3)}`);
  console.log(
    `  peak memory ${formatBytes(p.maxRss)} (${formatBytes(measured)} above the process's start; plan ${formatBytes(plan.total)}, ${((plan.total / measured - 1) * 100).toFixed(1)}%)`,
  );
  console.log(
    `  model FLOPs utilisation: ${(modelFlops / 1e9).toFixed(1)} GFLOP/s of ${(flops / 1e9).toFixed(1)} = ${((100 * modelFlops) / flops).toFixed(1)}% ` +
      `(recomputing each block's forward adds a third more work than the model FLOPs count)`,
  );
  console.log(`  the whole run (weights, 2 warm-up and ${steps} timed steps): ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  // The same model, batch and steps in PyTorch (float32 weights, gradients and AdamW moments: about 16 bytes a
  // parameter), on OpenBLAS where Debian's is installed. AILO_BENCH_TORCH=0 skips it.
  const python = process.env.AILO_BENCH_TORCH === '0' ? undefined : findTorchPython();
  if (!python) {
    console.log(
      process.env.AILO_BENCH_TORCH === '0'
        ? '  pytorch: skipped (AILO_BENCH_TORCH=0)'
        : '  pytorch: not run (apt-get install python3-torch libopenblas0-pthread; AILO_BENCH_TORCH=0 skips it)',
    );
    return;
  }
  const config = join(tmpdir(), 'ailo-bench-ailo-1b.json');
  writeFileSync(config, JSON.stringify(toHfConfigJson(cfg)));
  const t = torchBench(python, config, 1, seq, steps);
  if (!t) {
    console.log('  pytorch: failed to run');
    return;
  }
  console.log(
    `  pytorch cpu: ${t.tokensPerSecond.toFixed(2)} tokens/s, peak memory ${formatBytes(t.maxRss)} (${formatBytes(t.maxRss - t.rssBefore)} above the weights), BLAS ${t.blas}`,
  );
  console.log(
    `  onnxruntime / pytorch: speed ${(p.tokensPerSecond / t.tokensPerSecond).toFixed(2)}x, peak memory ${(p.maxRss / t.maxRss).toFixed(2)}x`,
  );
}

/** A running process's peak resident memory so far (VmHWM) or its resident memory now (VmRSS), bytes; 0 once gone. */
function rss(pid: number, which: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  try {
    const m = new RegExp(`${which}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** A child process whose output is collected and whose peak memory is sampled every second until it exits. */
function watched(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; out: () => string; peak: () => number; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let peak = 0;
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setInterval(() => (peak = Math.max(peak, rss(child.pid!))), 1000);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      clearInterval(timer);
      resolve(code);
    }),
  );
  return { child, out: () => out, peak: () => Math.max(peak, rss(child.pid!)), exited };
}

async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * One task of `model` through the real parts, as an operator and a miner run them: `ailo genesis new --model`, an
 * `ailo-node` on that genesis (making the genesis weights from the seed), `ailo-miner --cpu --tasks 1 --memory 16`
 * (the issue's ceiling), and the coordinator's verification: its two reference tasks (trained before the miner starts:
 * both processes share this machine), the recomputation of the miner's task and the scoring. Prints what each part
 * took, both processes' peak memory, the miner's time a step and model FLOPs utilisation, and the reward on the ledger.
 */
async function throughNode(model: string, seq: number, flops: number): Promise<void> {
  const cfg = presetConfig(model);
  const P = paramCount(cfg);
  const dir = mkdtempSync(join(tmpdir(), 'ailo-bench-node-'));
  // 8 steps of 2x64 (AILO_BENCH_NODE_SEQ), the tokens and time of 4 steps of 2x128: the task-specificity test compares
  // the update's gain on the task's own rows with its gain on other rows, and after 4 steps of 2x128 an honest
  // ailo-1b task was refused at t 2.6 of 2.65 (one reference task 1.6 of 2.68); after 8 steps of 2x64 the reference
  // tasks stood at t 5.6 and 5.8.
  const batch = 2,
    steps = 8;
  console.log(`\n${model} through ailo-node and ailo-miner (a task of ${steps} steps of ${batch}x${seq}; ${dir}):`);
  const t0 = performance.now();
  const since = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const made = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'node/ailo-cli.ts',
      'genesis',
      'new',
      '--out',
      join(dir, 'net'),
      '--model',
      model,
      '--period-ms',
      '1000',
      '--name',
      `bench-${model}`,
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`ailo genesis new failed: ${made.stderr}`);
  // Rows per test at the least the statistics take (MIN_ROWS): at this size every scored row is a forward pass of the
  // whole model, and the scoring, not the training, is what a coordinator spends most on.
  const rounds = {
    batchSize: batch,
    seqLen: seq,
    steps,
    // The devnet's 3e-3 suits ailo-tiny; at ailo-1b's width it makes held-out loss rise within 4 steps (11.1 -> 14.5
    // measured), as GPT-2's larger models also train at lower rates.
    lr: Number(process.env.AILO_BENCH_LR ?? (model === 'ailo-1b' ? 5e-4 : DEFAULT_FEDERATION.lr)),
    roundSize: 100,
    roundMs: 6 * 3_600_000,
    taskTtlMs: 6 * 3_600_000,
    score: { ...DEFAULT_FEDERATION.score, taskRows: MIN_ROWS, unassignedRows: MIN_ROWS, heldOutRows: MIN_ROWS },
    recomputeTolerance: Number(process.env.AILO_BENCH_RECOMPUTE ?? DEFAULT_FEDERATION.recomputeTolerance),
  };
  writeFileSync(join(dir, 'rounds.json'), JSON.stringify(rounds));
  // glibc's malloc keeps what onnxruntime frees in its arenas once its dynamic mmap threshold has risen: measured, an
  // ailo-1b training left 2 GiB resident beyond the live arrays (5.06 GiB for 3.06 GiB), and about 0.1 GiB with these
  // two settings. Both processes share this machine, so both run with them (README, "Memory").
  const malloc = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '262144' };
  const node = watched(
    [
      'node/cli.ts',
      '--data',
      join(dir, 'data'),
      '--port',
      '0',
      '--genesis',
      join(dir, 'net/genesis.json'),
      '--coordinator-key',
      join(dir, 'net/coordinator-1.key'),
      '--rounds',
      join(dir, 'rounds.json'),
    ],
    malloc,
  );
  const lines = (re: RegExp): string[] =>
    node
      .out()
      .split('\n')
      .filter((l) => re.test(l));
  let miner: ReturnType<typeof watched> | undefined;
  try {
    const url = await until('the node to listen', 30 * 60_000, () => {
      if (node.child.exitCode !== null) throw new Error(`ailo-node exited: ${node.out().slice(-2000)}`);
      return /listening on (http:\/\/\S+) /.exec(node.out())?.[1];
    });
    const weightsLine =
      lines(/making the genesis weights/)
        .at(-1)
        ?.replace(/^.*federation: /, '') ?? 'see its log';
    console.log(`  ${since()}: the node listens (${weightsLine}); its peak memory so far ${formatBytes(node.peak())}`);
    // The version's pools and reference tasks, made at the first task on it: asked for here with a wallet that gives
    // the task back at once, so that they are ready before the miner trains (one machine holds both).
    const starter = randomPrivateKey();
    const client = new NodeClient(url);
    const coordinator = (await client.json<{ coordinator: string }>('/api/round')).coordinator;
    const task = await client.postJson<{ taskId: string }>('/api/task', await taskRequestSigner(starter, url)(coordinator));
    await client.json(`/api/task/${task.taskId}?wallet=${privateKeyToAddress(starter)}`, { method: 'DELETE' });
    await until('the reference tasks', 3 * 3_600_000, () => {
      if (node.child.exitCode !== null) throw new Error(`ailo-node exited: ${node.out().slice(-2000)}`);
      const failed = lines(/scoring version 0:/)[0];
      if (failed) throw new Error(failed);
      return lines(/reference task 2 /)[0];
    });
    for (const l of lines(/held-out loss|reference task \d/)) console.log(`  node: ${l.replace(/^.*federation: /, '')}`);
    console.log(`  ${since()}: the version's scoring is ready; node peak so far ${formatBytes(node.peak())}`);
    const key = randomPrivateKey();
    const keyFile = join(dir, 'miner.key');
    writeFileSync(keyFile, `${toHex(key)}\n`, { mode: 0o600 });
    miner = watched(
      [
        'node/ailo-miner/cli.ts',
        '--key-file',
        keyFile,
        '--node',
        url,
        '--cpu',
        '--no-gui',
        '--power',
        '90',
        '--tasks',
        '1',
        '--memory',
        '16',
        '--cache',
        join(dir, 'cache'),
      ],
      malloc,
    );
    // Both processes' memory together while the miner runs (sampled each second): what this machine must hold.
    let together = 0,
      nodeWhileMining = 0;
    const sampler = setInterval(() => {
      const n = rss(node.child.pid!, 'VmRSS');
      nodeWhileMining = Math.max(nodeWhileMining, n);
      together = Math.max(together, n + rss(miner!.child.pid!, 'VmRSS'));
    }, 1000);
    const code = await miner.exited;
    clearInterval(sampler);
    const out = miner.out();
    for (const l of out.split('\n').filter((l) => /training |trained: |accepted|rejected: |ledger: |summary/.test(l)))
      console.log(`  miner: ${l.trim()}`);
    if (code !== 0) throw new Error(`ailo-miner exited with ${code}: ${out.slice(-3000)}`);
    for (const l of lines(/accepted task|refused task|UPDATE_MISMATCH/)) console.log(`  node: ${l.replace(/^.*federation: /, '')}`);
    const wallet = privateKeyToAddress(key);
    const account = await client.json<{ balance: string }>(`/api/ledger/account/${wallet}`);
    // The miner's own account of its steps (rests excluded), after the first.
    const stepMs = 1000 * Number(/then ([0-9.]+) s a step/.exec(out)?.[1] ?? NaN);
    const tokensPerSecond = (batch * seq * 1000) / stepMs;
    console.log(`  ${since()}: done. The miner's reward on the ledger: ${formatAlc(BigInt(account.balance))} ALC (wallet ${wallet})`);
    console.log(
      `  miner: ${(stepMs / 1000).toFixed(1)} s a step after the first, ${tokensPerSecond.toFixed(2)} tokens/s, ` +
        `model FLOPs utilisation ${((100 * 6 * P * tokensPerSecond) / flops).toFixed(1)}%; peak memory ${formatBytes(miner.peak())}`,
    );
    console.log(
      `  node: peak memory ${formatBytes(node.peak())} (its reference tasks), ${formatBytes(nodeWhileMining)} while the miner ran ` +
        `(its recomputation and scoring); both together at most ${formatBytes(together)}`,
    );
  } finally {
    if (miner && miner.child.exitCode === null) miner.child.kill('SIGKILL');
    node.child.kill('SIGTERM');
    await node.exited;
    if (process.env.AILO_BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }
}
