/**
 * The red-team suite: cheap fakes and shortcuts against a coordinator, each class from its own fresh wallets, all over
 * the node's public HTTP routes (signed task requests, task tokens, model manifests and chunks, submissions, ledger
 * balances), beside an honest miner that trains exactly as `ailo-miner` does. The proof of contribution holds when every
 * attacker's balance stays 0, half the work earns at most `halfWorkMaxRatio` of the honest reward on the same model
 * version, and nobody can take another wallet's task slots.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAddress } from '../../../protocol/address.js';
import { signDigest } from '../../../protocol/signature.js';
import { newWalletRequest, signTaskRequest, taskRequestDigest, walletRequestBody } from '../../../chain/tx/task-request.js';
import type { ModelUpdate } from '../../../trainer/codec/update-codec.js';
import { defaultCorpusShards } from '../../../trainer/corpus/default-corpus.js';
import { listBatchAddresses, type ShardSet } from '../../../trainer/corpus/shards.js';
import { trainLocally } from '../../../trainer/federated/local-training.js';
import { TASK_CLOSED_CODES } from '../../../protocol/federation.js';
import { compressTaskUpdate } from '../../../trainer/federated/task-update.js';
import type { ModelConfig } from '../../../trainer/model/config.js';
import { CHANCE_REFUSALS, sharedTokens } from '../quality.js';
import type { Weights } from '../../../trainer/model/weights.js';
import {
  compressLikeMiner,
  cycleRows,
  decodeFor,
  mixHeldOut,
  noiseUpdate,
  partialCopy,
  publishedChange,
  reencodedF32,
  scaledUpdate,
  seededRng,
  textTokens,
  trainedUpdate,
  ulpNudged,
  type Rng,
  rotatedLowRank,
} from './attacks.js';
import { LossProbe, type LossChange } from './loss-probe.js';
import type { Task } from '../../../protocol/federation.js';
import { freshWallet, PublicApi, type RedTeamWallet, type SubmitOutcome } from './public-api.js';
import { REDTEAM_CLASSES, type AttemptRecord, type ClassResult, type RedTeamClass, type RedTeamReport } from './report.js';

export interface RedTeamOptions {
  /** The node under attack, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Rounds of attacks: each class tries each of its variants once per round. */
  tries: number;
  /** The node's task slots per wallet (its federation config), for the theft check. */
  tasksPerWallet: number;
  /** Where the attacker builds its own copy of the public default corpus (for held-out rows). */
  corpusCacheDir: string;
  seed?: number;
  /** Half work may earn at most this share of the honest reward on the same model version (default 0.6). */
  halfWorkMaxRatio?: number;
  /** How long to wait for accepted contributions to reach a block (default 30 s). */
  settleMs?: number;
  /** How long the resale attack waits for a second published version (default 90 s). */
  versionWaitMs?: number;
  log?: (line: string) => void;
}

const README_PATH = fileURLToPath(new URL('../../../README.md', import.meta.url));
/** The held-out rows the old scoring rule used: batch `version % n` of the eval split, in batches of this many rows. */
const OLD_RULE_HELD_OUT_ROWS = 4;
const NOISE_SIGMAS = [1e-4, 1e-3, 1e-2];
/** Overfitting settings the worsening attack tries, most aggressive first. */
const WORSENING = [
  { stepsFactor: 4, lrFactor: 10 },
  { stepsFactor: 4, lrFactor: 4 },
  { stepsFactor: 3, lrFactor: 2 },
];
const PROBE_EVAL_ROWS = 16;
/**
 * What counts as worsening (nats, by the attacker's probe): held-out loss rises by at least WORSENING_RISE (the issue's
 * example rose by 0.49), and by WORSE_THAN_HONEST more than an honest update of the same task raises it (late in
 * training honest updates raise it by up to about 0.1 too; the round's average is what improves).
 */
const WORSENING_RISE = 0.25;
const WORSE_THAN_HONEST = 0.05;

interface AcceptedHonest {
  task: Task;
  bytes: Uint8Array;
  update: ModelUpdate;
  reward: bigint;
}

interface Build {
  bytes: Uint8Array;
  note?: string;
}

interface AttackInput {
  task: Task;
  tokens: Uint16Array;
  cfg: ModelConfig;
  base: Weights;
}

class Skip extends Error {}

class RedTeamRun {
  readonly attempts: AttemptRecord[] = [];
  private readonly wallets = new Map<RedTeamClass, RedTeamWallet[]>();
  private readonly honest: AcceptedHonest[] = [];
  private readonly halfPairs: { honest: bigint; half: bigint; quarter: bigint }[] = [];
  private readonly worsening: { task: LossChange; held: LossChange }[] = [];
  private readonly notes = new Map<RedTeamClass, string[]>();
  private readonly stolen: { taskId: string }[] = [];
  private victimQuota: { granted: number; of: number } | null = null;
  private probe: LossProbe | undefined;
  private readonly readme = readFileSync(README_PATH, 'utf8');
  private readonly log: (line: string) => void;

  constructor(
    readonly api: PublicApi,
    readonly o: RedTeamOptions,
    readonly shards: ShardSet,
    private readonly rng: Rng,
  ) {
    const started = performance.now();
    const log = o.log ?? (() => {});
    this.log = (line) => log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  }

  wallet(cls: RedTeamClass, i = 0): RedTeamWallet {
    const list = this.wallets.get(cls) ?? [];
    while (list.length <= i) list.push(freshWallet());
    this.wallets.set(cls, list);
    return list[i]!;
  }

  private note(cls: RedTeamClass, text: string): void {
    this.notes.set(cls, [...(this.notes.get(cls) ?? []), text]);
  }

  private record(cls: RedTeamClass, variant: string, w: RedTeamWallet, task: Task | undefined, out: SubmitOutcome, note?: string): void {
    const d = (x: [number, number] | undefined): string => (x ? `${x[0].toFixed(3)} -> ${x[1].toFixed(3)}` : '?');
    const measured =
      out.workRatio === undefined
        ? undefined
        : `node: task rows ${d(out.taskLoss)}, held-out ${d(out.heldOutLoss)}, ${(out.workRatio * 100).toFixed(0)}% of a full task's task-specific gain`;
    this.attempts.push({
      cls,
      variant,
      wallet: w.address,
      modelVersion: task?.modelVersion,
      code: out.code,
      status: out.status,
      reward: out.reward,
      contribution: out.contribution,
      note: [note, measured ?? (out.accepted ? undefined : out.message?.slice(0, 160))].filter(Boolean).join('; ') || undefined,
    });
    this.log(
      `${cls} | ${variant} | v${task?.modelVersion ?? '-'} | ${out.code}${out.accepted ? ` reward ${out.reward}` : ''}${note ? ` | ${note}` : ''}`,
    );
  }

  /** Submits `bytes` on `task`; a refused task that the node keeps open is given back, as the miner does. */
  async submitOn(
    cls: RedTeamClass,
    variant: string,
    w: RedTeamWallet,
    task: Task,
    bytes: Uint8Array,
    note?: string,
  ): Promise<SubmitOutcome> {
    const out = await this.api.submit(w, task, bytes);
    if (!out.accepted && !TASK_CLOSED_CODES.has(out.code)) await this.api.abandon(task, w);
    this.record(cls, variant, w, task, out, note);
    return out;
  }

  private async input(task: Task): Promise<AttackInput> {
    const model = await this.api.weights(task.modelVersion);
    if (!model) throw new Skip(`version ${task.modelVersion} is no longer served`);
    return { task, tokens: await this.api.tokens(task), cfg: model.cfg, base: model.weights };
  }

  /** A fresh task for `w`, the update `build` makes for it, and the submission. */
  async attack(
    cls: RedTeamClass,
    variant: string,
    w: RedTeamWallet,
    build: (x: AttackInput) => Promise<Build> | Build,
  ): Promise<SubmitOutcome | undefined> {
    const task = await this.api.task(w);
    let made: Build;
    try {
      made = await build(await this.input(task));
    } catch (err) {
      await this.api.abandon(task, w);
      if (!(err instanceof Skip)) throw err;
      this.note(cls, `${variant}: skipped, ${err.message}`);
      return undefined;
    }
    return this.submitOn(cls, variant, w, task, made.bytes, made.note);
  }

  /** Tasks for several wallets on one model version (a round may close between two requests). */
  private async tasksOnOneVersion(wallets: RedTeamWallet[]): Promise<Task[]> {
    for (let attempt = 0; ; attempt++) {
      const tasks: Task[] = [];
      for (const w of wallets) tasks.push(await this.api.task(w));
      if (tasks.every((t) => t.modelVersion === tasks[0]!.modelVersion) || attempt === 3) return tasks;
      for (const [i, t] of tasks.entries()) await this.api.abandon(t, wallets[i]!);
    }
  }

  /** The honest miner's update: `trainLocally` on the task's tokens and the miner's own compression (`compressTaskUpdate`). */
  private async honestUpdate(task: Task): Promise<{ bytes: Uint8Array; update: ModelUpdate }> {
    const x = await this.input(task);
    const result = await trainLocally(x.cfg, 'cpu', x.base, x.tokens, task);
    if (!result) throw new Error('honest training stopped');
    const c = compressTaskUpdate(x.cfg, result.update, task);
    return { bytes: c.bytes, update: c.sent };
  }

  private async honestSubmit(task: Task, made: { bytes: Uint8Array; update: ModelUpdate }, variant: string): Promise<SubmitOutcome> {
    const out = await this.submitOn('honest control', variant, this.wallet('honest control'), task, made.bytes);
    if (out.accepted) this.honest.push({ task, bytes: made.bytes, update: made.update, reward: out.reward });
    return out;
  }

  /** Half (divisor 2) or a quarter (4) of the asked steps, on the first rows of the task. */
  private async partialWork(task: Task, divisor: number): Promise<Uint8Array> {
    const x = await this.input(task);
    const steps = Math.max(1, Math.floor(task.steps / divisor));
    const tokens = x.tokens.subarray(0, steps * task.batchSize * (task.seqLen + 1));
    return (await trainedUpdate(x.cfg, x.base, tokens, task, { steps })).bytes;
  }

  /** Held-out rows as the public corpus gives them: the batch the old rule scored on for `version` first, then the rest. */
  evalRows(version: number, seqLen: number): Uint16Array {
    const addresses = listBatchAddresses(this.shards.manifest, 'eval', OLD_RULE_HELD_OUT_ROWS, seqLen);
    if (addresses.length === 0) throw new Skip('the public corpus has no held-out batch of this shape');
    const parts: Uint16Array[] = [];
    for (let i = 0; i < addresses.length; i++) parts.push(this.shards.readBatch(addresses[(version + i) % addresses.length]!).tokens);
    const out = new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async round(t: number): Promise<void> {
    this.log(`--- round ${t + 1} of ${this.o.tries}`);
    await this.honestAndHalfWork();
    await this.copies();
    await this.noise();
    await this.otherText();
    await this.heldOutMix();
    await this.worsen();
    await this.resale();
    await this.theft();
  }

  private async honestAndHalfWork(): Promise<void> {
    const H = this.wallet('honest control');
    const HW = this.wallet('half work');
    const [hTask, halfTask, quarterTask] = await this.tasksOnOneVersion([H, HW, HW]);
    const honest = await this.honestUpdate(hTask!);
    const half = await this.partialWork(halfTask!, 2);
    const quarter = await this.partialWork(quarterTask!, 4);
    const h = await this.honestSubmit(hTask!, honest, 'trained as ailo-miner');
    const hf = await this.submitOn('half work', `${Math.floor(halfTask!.steps / 2)} of ${halfTask!.steps} steps`, HW, halfTask!, half);
    const q = await this.submitOn(
      'half work',
      `${Math.floor(quarterTask!.steps / 4)} of ${quarterTask!.steps} steps`,
      HW,
      quarterTask!,
      quarter,
    );
    if (h.accepted && hTask!.modelVersion === halfTask!.modelVersion && hTask!.modelVersion === quarterTask!.modelVersion) {
      this.halfPairs.push({ honest: h.reward, half: hf.reward, quarter: q.reward });
    }
    const second = await this.api.task(H);
    await this.honestSubmit(second, await this.honestUpdate(second), 'trained as ailo-miner');
  }

  private async copies(): Promise<void> {
    const latest = this.honest.at(-1);
    const oldest = this.honest[0];
    if (!latest || !oldest) {
      for (const cls of ['partial copy', 'sign/scale of honest', 'replays'] as const)
        this.note(cls, 'skipped a round: no accepted honest update to copy');
      return;
    }
    const P = this.wallet('partial copy');
    for (const [fraction, rest] of [
      [0.25, 'noise'],
      [0.5, 'noise'],
      [0.25, 'zero'],
      [0.5, 'zero'],
    ] as const) {
      await this.attack('partial copy', `${fraction * 100}% of an honest update, rest ${rest}`, P, ({ task }) => ({
        bytes: partialCopy(latest.update, fraction, rest, task.maxAbs, this.rng),
      }));
    }
    await this.attack('partial copy', '100% of an honest update, f32 (new digest)', P, () => ({ bytes: reencodedF32(latest.update) }));
    await this.attack('partial copy', 'honest bytes of task A on own task B', this.wallet('partial copy', 1), () => ({
      bytes: latest.bytes,
    }));
    await this.rotatedCopy(latest);
    const F = this.wallet('sign/scale of honest');
    for (const factor of [-1, 0.1, 0.01]) {
      await this.attack('sign/scale of honest', `honest update x ${factor}`, F, () => ({ bytes: scaledUpdate(latest.update, factor) }));
    }
    const R = this.wallet('replays');
    await this.attack('replays', `oldest accepted (v${oldest.task.modelVersion}) byte-identical`, R, () => ({ bytes: oldest.bytes }));
    await this.attack('replays', `oldest accepted (v${oldest.task.modelVersion}) f32, 1 ulp`, R, () => ({
      bytes: ulpNudged(oldest.update),
    }));
    await this.attack('replays', `latest accepted (v${latest.task.modelVersion}) f32, 1 ulp`, R, () => ({
      bytes: ulpNudged(latest.update),
    }));
  }

  /**
   * The honest update's low-rank factors mixed by a random rotation, its sparse values dropped (the same weight change
   * from other bytes), sent on whichever of three fresh tasks shares the most of the honest task's window on its
   * version: what a miner paid once tries to be paid for again.
   */
  private async rotatedCopy(source: { task: Task; update: ModelUpdate }): Promise<void> {
    const w = this.wallet('partial copy', 2);
    const range = (t: Task) => ({ shard: t.data.shardName, offset: t.data.offset, length: t.data.length });
    const shared = (t: Task): number =>
      t.modelVersion === source.task.modelVersion ? sharedTokens(range(t), range(source.task)) / t.data.length : -1;
    const tasks: Task[] = [];
    for (let i = 0; i < 3; i++) tasks.push(await this.api.task(w));
    tasks.sort((a, b) => shared(b) - shared(a));
    for (const t of tasks.slice(1)) await this.api.abandon(t, w);
    const task = tasks[0]!;
    const where = shared(task) < 0 ? 'on a task of another version' : `on a task sharing ${(shared(task) * 100).toFixed(0)}% of its window`;
    await this.submitOn(
      'partial copy',
      `an honest update's low-rank factors rotated, sparse values dropped, ${where}`,
      w,
      task,
      rotatedLowRank(source.update, this.rng),
    );
  }

  private async noise(): Promise<void> {
    const N = this.wallet('noise');
    for (const sigma of NOISE_SIGMAS) {
      await this.attack('noise', `top-k gaussian sigma ${sigma}`, N, ({ cfg, task }) => ({
        bytes: noiseUpdate(cfg, task, sigma, this.rng),
      }));
    }
  }

  private async otherText(): Promise<void> {
    const O = this.wallet('other-text');
    await this.attack('other-text', "trained on another task's tokens", O, async ({ cfg, base, task }) => {
      const other = await this.api.task(O);
      try {
        return { bytes: (await trainedUpdate(cfg, base, await this.api.tokens(other), task)).bytes };
      } finally {
        await this.api.abandon(other, O);
      }
    });
    await this.attack('other-text', "trained on the README's text", O, async ({ cfg, base, task }) => ({
      bytes: (await trainedUpdate(cfg, base, textTokens(this.readme, task), task)).bytes,
    }));
  }

  private async heldOutMix(): Promise<void> {
    const M = this.wallet('held-out-mix');
    const variants = [
      [0.5, 1, 'half task rows, half old-rule held-out batch + eval rows'],
      [0.5, 2, 'all task rows + as many eval rows (2x steps)'],
      [1, 1, 'eval rows only'],
    ] as const;
    for (const [fraction, stepsFactor, variant] of variants) {
      await this.attack('held-out-mix', variant, M, async ({ cfg, base, task, tokens }) => {
        const steps = task.steps * stepsFactor;
        const mixed = mixHeldOut(tokens, this.evalRows(task.modelVersion, task.seqLen), task, fraction, steps);
        return { bytes: (await trainedUpdate(cfg, base, mixed, task, { steps })).bytes };
      });
    }
  }

  /**
   * Overfits the task rows (more steps at a larger learning rate), trying settings from the most aggressive until the
   * attacker's own measurement shows what it wants: task-row loss down, held-out loss up. That one is submitted.
   */
  private async worsen(): Promise<void> {
    await this.attack('worsening', 'overfit the task rows', this.wallet('worsening'), async ({ cfg, base, task, tokens }) => {
      const width = task.seqLen + 1;
      const held = this.evalRows(task.modelVersion + 1, task.seqLen).subarray(0, PROBE_EVAL_ROWS * width);
      this.probe ??= new LossProbe(cfg);
      let chosen: { bytes: Uint8Array; change: { task: LossChange; held: LossChange }; label: string } | undefined;
      const honest = decodeFor(cfg, (await trainedUpdate(cfg, base, tokens, task)).bytes);
      const honestHeld = await this.probe.change(base, honest, held, width);
      const bar = Math.max(WORSENING_RISE, honestHeld.after - honestHeld.before + WORSE_THAN_HONEST);
      const worsens = (c: { task: LossChange; held: LossChange }): boolean =>
        c.task.after < c.task.before && c.held.after - c.held.before > bar;
      for (const { stepsFactor, lrFactor } of WORSENING) {
        const steps = task.steps * stepsFactor;
        const made = await trainedUpdate(cfg, base, cycleRows(tokens, width, steps * task.batchSize), task, {
          steps,
          lr: task.lr * lrFactor,
        });
        const update = decodeFor(cfg, made.bytes);
        const change = {
          task: await this.probe.change(base, update, tokens, width),
          held: await this.probe.change(base, update, held, width),
        };
        const candidate = { bytes: made.bytes, change, label: `${stepsFactor}x steps at ${lrFactor}x lr` };
        const rise = (c: typeof candidate): number =>
          c.change.task.after < c.change.task.before ? c.change.held.after - c.change.held.before : -Infinity;
        if (!chosen || rise(candidate) > rise(chosen)) chosen = candidate;
        if (worsens(change)) break;
      }
      if (!worsens(chosen!.change)) {
        // Early in training overfitting still helps held-out text: learn the task rows and unlearn the held-out split
        // (gradient ascent on all of it) in one update.
        const learn = await trainedUpdate(cfg, base, tokens, task);
        const allEval = this.evalRows(task.modelVersion + 1, task.seqLen);
        const unlearn = await trainedUpdate(cfg, base, cycleRows(allEval, width, task.steps * task.batchSize), task);
        const delta = new Map([...learn.delta].map(([n, d]) => [n, Float32Array.from(d, (x, i) => x - unlearn.delta.get(n)![i]!)]));
        const bytes = compressLikeMiner(cfg, delta, task).bytes;
        const update = decodeFor(cfg, bytes);
        const change = {
          task: await this.probe.change(base, update, tokens, width),
          held: await this.probe.change(base, update, held, width),
        };
        chosen = { bytes, change, label: 'task rows learned, held-out rows unlearned' };
      }
      this.worsening.push(chosen!.change);
      const d = (c: LossChange): string => `${c.before.toFixed(3)} -> ${c.after.toFixed(3)}`;
      return {
        bytes: chosen!.bytes,
        note: `${chosen!.label}; attacker-measured task rows ${d(chosen!.change.task)}, held-out ${d(chosen!.change.held)} (an honest update: ${d(honestHeld)})`,
      };
    });
  }

  /** Waits (polling) for the node to publish at least `version`; false at the deadline. */
  private async versionAtLeast(version: number): Promise<boolean> {
    const end = Date.now() + (this.o.versionWaitMs ?? 90_000);
    for (;;) {
      if ((await this.api.currentVersion()) >= version) return true;
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async resale(): Promise<void> {
    if (!(await this.versionAtLeast(1))) {
      this.note('resale', 'skipped a round: the node published no second version in time');
      return;
    }
    const S = this.wallet('resale');
    for (const scale of [1, 0.5, 2]) {
      await this.attack('resale', `published change x ${scale}`, S, async ({ cfg, base, task }) => {
        const older = task.modelVersion > 0 ? await this.api.weights(task.modelVersion - 1) : undefined;
        if (!older) throw new Skip(`version ${task.modelVersion - 1} is not served`);
        return {
          bytes: compressLikeMiner(cfg, publishedChange(older.weights, base, scale), task).bytes,
          note: `v${task.modelVersion - 1} -> v${task.modelVersion}`,
        };
      });
    }
  }

  private async theft(): Promise<void> {
    const victim = this.wallet('task-slot theft', 0);
    const thief = this.wallet('task-slot theft', 1);
    const network = await this.api.network();
    const steal = async (variant: string, body: unknown): Promise<void> => {
      const r = await this.api.postTaskRequest(body);
      const granted = r.status >= 200 && r.status < 300;
      if (granted) this.stolen.push({ taskId: String((r.body as { taskId?: string }).taskId) });
      this.record('task-slot theft', variant, thief, undefined, {
        accepted: granted,
        status: r.status,
        code: granted ? 'ACCEPTED' : r.code,
        reward: 0n,
      });
    };
    await steal('unsigned request naming the victim', { wallet: victim.address });
    const coordinator = await this.api.coordinator();
    const forged = newWalletRequest(parseAddress(victim.address), coordinator);
    await steal(
      "victim's wallet, signed by the thief's key",
      walletRequestBody(forged, signDigest(taskRequestDigest(forged, network), thief.key)),
    );
    const own = signTaskRequest(victim.key, network, coordinator);
    const first = await this.api.postTaskRequest(own);
    if (first.status !== 201) throw new Error(`the victim's own signed task request was refused: ${first.status} ${first.code}`);
    await this.api.abandon(first.body as unknown as Task, victim);
    await steal("replay of the victim's used signed request", own);
  }

  /** After every theft: the victim asks for tasks until refused; it must get all `tasksPerWallet` of them. */
  async victimQuotaCheck(): Promise<void> {
    const victim = this.wallet('task-slot theft', 0);
    const granted: Task[] = [];
    for (let i = 0; i <= this.o.tasksPerWallet; i++) {
      const r = await this.api.postTaskRequest(signTaskRequest(victim.key, await this.api.network(), await this.api.coordinator()));
      if (r.status !== 201) break;
      granted.push(r.body as unknown as Task);
    }
    this.victimQuota = { granted: granted.length, of: this.o.tasksPerWallet };
    for (const t of granted) await this.api.abandon(t, victim);
    for (const s of this.stolen) await this.api.request(`/api/task/${s.taskId}?wallet=${victim.address}`, { method: 'DELETE' });
  }

  /** Waits until every accepted contribution is in a block; returns those that are not. */
  private async settle(): Promise<string[]> {
    const open = new Set(this.attempts.flatMap((a) => (a.contribution ? [a.contribution] : [])));
    const end = Date.now() + (this.o.settleMs ?? 30_000);
    while (open.size > 0 && Date.now() < end) {
      for (const h of open) if ((await this.api.txStatus(h)) === 'confirmed') open.delete(h);
      if (open.size > 0) await new Promise((r) => setTimeout(r, 250));
    }
    return [...open];
  }

  async report(seconds: number, seed: number): Promise<RedTeamReport> {
    const unsettled = await this.settle();
    const violations: string[] = [];
    if (unsettled.length > 0)
      violations.push(
        `${unsettled.length} accepted contribution(s) not in a block after ${(this.o.settleMs ?? 30_000) / 1000} s: ${unsettled.join(', ')}`,
      );
    const sum = (xs: bigint[]): bigint => xs.reduce((a, b) => a + b, 0n);
    const ratio = (part: bigint, whole: bigint): number | null => (whole > 0n ? Number((part * 1_000_000n) / whole) / 1_000_000 : null);
    const honestSum = sum(this.halfPairs.map((p) => p.honest));
    const halfWorkRatio = {
      half: ratio(sum(this.halfPairs.map((p) => p.half)), honestSum),
      quarter: ratio(sum(this.halfPairs.map((p) => p.quarter)), honestSum),
    };
    const maxRatio = this.o.halfWorkMaxRatio ?? 0.6;
    const rows: ClassResult[] = [];
    for (const cls of REDTEAM_CLASSES) {
      const attempts = this.attempts.filter((a) => a.cls === cls);
      const codes: Record<string, number> = {};
      for (const a of attempts) if (a.code !== 'ACCEPTED') codes[a.code] = (codes[a.code] ?? 0) + 1;
      const wallets = cls === 'task-slot theft' ? [] : (this.wallets.get(cls) ?? []);
      let paid = 0n;
      for (const w of wallets) paid += await this.api.balance(w.address);
      const named = sum(attempts.map((a) => a.reward));
      const accepted = attempts.filter((a) => a.code === 'ACCEPTED').length;
      const problems: string[] = [];
      const notes = [...(this.notes.get(cls) ?? [])];
      if (attempts.length === 0) problems.push('never tried');
      switch (cls) {
        case 'honest control':
          notes.unshift(`acceptance ${accepted}/${attempts.length}, earned ${named} base units in ${accepted} contribution(s)`);
          // The coordinator's one-sided 1% tests refuse an honest update now and then (issue 11 allows 5%;
          // `npm run bench -- acceptance` measures the rate): one such refusal, or 5% of a longer run, is chance; any
          // other refusal code, or more, is a fault.
          {
            const byChance = Object.entries(codes)
              .filter(([c]) => CHANCE_REFUSALS.has(c))
              .reduce((n, [, k]) => n + k, 0);
            const other = Object.entries(codes).filter(([c]) => !CHANCE_REFUSALS.has(c));
            if (accepted === 0 || other.length > 0 || byChance > Math.max(1, Math.floor(0.05 * attempts.length)))
              problems.push(`honest updates refused: ${JSON.stringify(codes)}`);
          }
          if (paid !== named) problems.push(`ledger balance ${paid} differs from the rewards the node named (${named})`);
          break;
        case 'half work': {
          const show = (r: number | null): string => (r === null ? 'n/a' : r.toFixed(3));
          notes.unshift(
            `reward vs honest on the same versions: half steps ${show(halfWorkRatio.half)}, quarter steps ${show(halfWorkRatio.quarter)} (limit ${maxRatio}; ${this.halfPairs.length} version(s) compared)`,
          );
          // Without an accepted honest update on the same version there is no ratio; half work that earned nothing is
          // then within any limit.
          if (halfWorkRatio.half === null || halfWorkRatio.quarter === null) {
            if (accepted > 0)
              problems.push(`half work was paid (${named} base units) with no honest reward on the same version to compare with`);
          } else if (halfWorkRatio.half > maxRatio || halfWorkRatio.quarter > maxRatio)
            problems.push(
              `earned more than ${maxRatio} of the honest reward (half ${show(halfWorkRatio.half)}, quarter ${show(halfWorkRatio.quarter)})`,
            );
          break;
        }
        case 'task-slot theft':
          if (accepted > 0) problems.push(`${accepted} of ${attempts.length} requests for the victim's slots were granted`);
          if (this.victimQuota) {
            notes.unshift(`victim then got ${this.victimQuota.granted} of its ${this.victimQuota.of} task slots`);
            if (this.victimQuota.granted !== this.victimQuota.of)
              problems.push(`the victim got ${this.victimQuota.granted} of ${this.victimQuota.of} task slots`);
          }
          break;
        case 'worsening': {
          // The claim is that an update which worsens held-out loss earns nothing. When the attacker could not make one
          // on its version (its best try did not raise held-out loss by WORSENING_RISE on its own probe), what it sent
          // was not a worsening update, and being paid for it is no failure of the claim.
          const worsened = attempts
            .map((a, i) => ({ a, w: this.worsening[i] }))
            .filter(({ w }) => w && w.held.after - w.held.before >= WORSENING_RISE);
          const paidWorse = worsened.filter(({ a }) => a.code === 'ACCEPTED');
          if (paidWorse.length > 0)
            problems.push(
              `paid ${sum(paidWorse.map(({ a }) => a.reward))} base units for ${paidWorse.length} update(s) that raised held-out loss by ${WORSENING_RISE} nats or more`,
            );
          if (worsened.length < attempts.length)
            notes.push(
              `${attempts.length - worsened.length} attempt(s) did not manage to worsen held-out loss by ${WORSENING_RISE} nats (not counted as worsening)`,
            );
          break;
        }
        default:
          if (paid > 0n || named > 0n) problems.push(`paid ${paid} base units (answers named ${named})`);
      }
      if (cls === 'worsening' && this.worsening.length > 0) {
        const worse = this.worsening.filter((w) => w.held.after > w.held.before).length;
        const lower = this.worsening.filter((w) => w.task.after < w.task.before).length;
        const mean = (f: (w: { task: LossChange; held: LossChange }) => number): string =>
          (this.worsening.reduce((s, w) => s + f(w), 0) / this.worsening.length).toFixed(3);
        notes.unshift(
          `attacker-measured: task-row loss fell in ${lower}/${this.worsening.length} (mean ${mean((w) => w.task.after - w.task.before)} nats), held-out loss rose in ${worse}/${this.worsening.length} (mean ${mean((w) => w.held.after - w.held.before)} nats)`,
        );
      }
      const row: ClassResult = { cls, tries: attempts.length, accepted, paid, codes, ok: problems.length === 0, problems, notes };
      rows.push(row);
      for (const p of problems) violations.push(`${cls}: ${p}`);
    }
    return { rows, attempts: this.attempts, halfWorkRatio, victimQuota: this.victimQuota, violations, seconds, seed };
  }

  async dispose(): Promise<void> {
    await this.probe?.dispose();
  }
}

/** Runs every class `tries` times against the node at `o.url` and reports what each earned. */
export async function runRedTeam(o: RedTeamOptions): Promise<RedTeamReport> {
  const started = performance.now();
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  o.log?.(`red team against ${o.url}: ${o.tries} round(s), seed ${seed}`);
  const shards = await defaultCorpusShards(o.corpusCacheDir);
  const run = new RedTeamRun(new PublicApi(o.url), o, shards, seededRng(seed));
  try {
    for (let t = 0; t < o.tries; t++) await run.round(t);
    await run.victimQuotaCheck();
    return await run.report((performance.now() - started) / 1000, seed);
  } finally {
    await run.dispose();
  }
}
