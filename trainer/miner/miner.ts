/**
 * The miner's loop: fetch the current model (signed manifest, chunks from the disk cache), ask for a task, train
 * on exactly its tokens, send the compressed update (top-k with error feedback), and check that every accepted
 * submission's `contribution` record with its reward reaches the ledger.
 */
import { tokensFromBytes } from '../corpus/shard-format.js';
import { trainLocally } from '../federated/local-training.js';
import { TASK_CLOSED_CODES } from '../../protocol/federation.js';
import { checkCodecVersion, compressTaskUpdate, measuredLine } from '../federated/task-update.js';
import { fetchCoordinators, fetchVerifiedManifest, placeChunk, type SignedModelManifest } from '../federated/model-manifest.js';
import type { ModelConfig } from '../model/config.js';
import { checkWeights, type Weights } from '../model/weights.js';
import type { Provider } from '../runtime/provider.js';
import type { MinerDevice, MinerPhase, MinerStatus, StepPoint, SubmissionRecord } from './status.js';
import { ChunkCache, parallel, type ChunkFetchStats } from './chunk-cache.js';
import { formatAlc } from '../../protocol/amount.js';
import { NO_RETRY, NodeClient, type RetryPolicy } from '../../protocol/client.js';
import { NodeError, nodeErrorOf } from '../../protocol/errors.js';
import { submitPath, type SignedTaskRequestBody, type SubmitAccepted, type Task } from '../../protocol/federation.js';

export interface MinerOptions {
  /** EIP-55 checksummed wallet address that receives the rewards. */
  wallet: string;
  /** Signs a fresh task request (new nonce, issued now) for `wallet`; called once per POST /api/task attempt. */
  signTaskRequest: () => Promise<SignedTaskRequestBody>;
  nodeUrl: string;
  provider: Provider;
  /** The CUDA device index (cuda only; the provider's default device when absent). */
  deviceId?: number;
  /** Duty cycle in percent: after a step that took t, rest t * (100 - power) / power. Changeable with setPower. */
  power: number;
  cacheDir: string;
  /** Stop after this many tasks (tests and benchmarks); unbounded by default. */
  maxTasks?: number;
  signal?: AbortSignal;
  /** How long a stop waits for the node's answer to a submission in flight (default SUBMIT_ANSWER_GRACE_MS). */
  submitAnswerGraceMs?: number;
  retry?: RetryPolicy;
  log?: (line: string) => void;
  onStatus?: (s: MinerStatus) => void;
  /** After every training step, once: the points of the loss and tokens/s history. */
  onStep?: (p: StepPoint) => void;
}

export interface MinerSummary {
  tasks: number;
  accepted: SubmissionRecord[];
  rejections: { taskId: string; code: string; message: string }[];
  /** Tasks submitted but stopped before the node's answer came (SUBMIT_ANSWER_GRACE_MS after a stop). */
  unanswered: string[];
  earned: bigint;
  tokens: number;
  seconds: number;
  chunks: ChunkFetchStats;
}

/** How long a stopped miner still waits for the node's answer to a submission already sent. */
export const SUBMIT_ANSWER_GRACE_MS = 60_000;

/** A signal that aborts `ms` after `signal` does (never, without one). */
function graceAfter(signal: AbortSignal | undefined, ms: number): AbortSignal | undefined {
  if (!signal) return undefined;
  const grace = new AbortController();
  const start = (): void => void setTimeout(() => grace.abort(), ms).unref?.();
  if (signal.aborted) start();
  else signal.addEventListener('abort', start, { once: true });
  return grace.signal;
}

/** Waits `ms`, or less: until `signal` aborts or the function handed to `onWake` is called. */
const pause = (ms: number, signal?: AbortSignal, onWake?: (wake: () => void) => void): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
    onWake?.(done);
  });

export class Miner {
  readonly client: NodeClient;
  readonly cache: ChunkCache;
  private model: { version: number; cfg: ModelConfig; weights: Weights } | undefined;
  private coordinators: Set<string> | undefined;
  readonly status: MinerStatus;
  readonly summary: MinerSummary;
  private readonly log: (line: string) => void;
  /** Settings changed while running: power takes effect at once, the device at the next task. */
  private power: number;
  private device: MinerDevice;
  private wakeRest: (() => void) | undefined;

  constructor(readonly o: MinerOptions) {
    checkPower(o.power);
    this.power = o.power;
    this.device = { provider: o.provider, deviceId: o.deviceId };
    this.status = {
      phase: 'starting',
      device: { ...this.device },
      power: o.power,
      tasks: 0,
      version: null,
      step: 0,
      steps: 0,
      loss: null,
      tokensPerSecond: 0,
      accepted: 0,
      rejected: 0,
      earned: 0n,
    };
    this.log = o.log ?? (() => {});
    this.client = new NodeClient(o.nodeUrl.replace(/\/+$/, ''), { retry: o.retry, signal: o.signal, onRetry: (e) => this.log(e.line) });
    this.cache = new ChunkCache(o.cacheDir);
    this.summary = {
      tasks: 0,
      accepted: [],
      rejections: [],
      unanswered: [],
      earned: 0n,
      tokens: 0,
      seconds: 0,
      chunks: { fromCache: 0, downloaded: 0, bytesDownloaded: 0, resumed: 0 },
    };
  }

  private get stopped(): boolean {
    return this.o.signal?.aborted ?? false;
  }

  /** The settings in force: power now, the device from the next task. */
  get settings(): { power: number; device: MinerDevice } {
    return { power: this.power, device: { ...this.device } };
  }

  /** The duty cycle from the next rest on; a rest under way is shortened or lengthened to match. */
  setPower(power: number): void {
    checkPower(power);
    if (power === this.power) return;
    this.power = power;
    this.status.power = power;
    this.log(`power set to ${power}%`);
    this.wakeRest?.();
    this.o.onStatus?.(this.status);
  }

  /** Trains the next task on this device; the task under way finishes where it started. */
  setDevice(device: MinerDevice): void {
    if (device.provider === this.device.provider && device.deviceId === this.device.deviceId) return;
    this.device = { ...device };
    this.log(
      `device set to ${deviceName(device)}${this.status.phase === 'training' || this.status.phase === 'resting' ? ', from the next task' : ''}`,
    );
  }

  private setPhase(phase: MinerPhase): void {
    this.status.phase = phase;
    this.o.onStatus?.(this.status);
  }

  /** Rests after a step that took `took` ms, following power changes made during the rest. */
  private async rest(took: number, since: number): Promise<void> {
    for (;;) {
      const left = since + (took * (100 - this.power)) / this.power - performance.now();
      if (left <= 0 || this.stopped) return;
      await pause(left, this.o.signal, (wake) => (this.wakeRest = wake)).finally(() => (this.wakeRest = undefined));
    }
  }

  /** The signed manifest of `version`, checked: its digest, the signature by a coordinator of this chain, its layout. */
  async fetchManifest(version?: number): Promise<SignedModelManifest> {
    this.coordinators ??= await fetchCoordinators(this.client);
    return fetchVerifiedManifest(this.client, this.coordinators, version);
  }

  /** Loads a version's weights, downloading only chunks the cache lacks. */
  async loadModel(version?: number): Promise<void> {
    const signed = await this.fetchManifest(version);
    const weights: Weights = new Map();
    const before = this.summary.chunks.downloaded;
    this.setPhase('loading-model');
    await parallel(signed.manifest.chunks, 4, async (chunk) => {
      const bytes = await this.cache.fetch(this.client, chunk, this.summary.chunks);
      placeChunk(signed.manifest, weights, chunk, bytes);
    });
    const cfg = signed.manifest.config;
    checkWeights(cfg, weights);
    // The parameter order of the model, which the update codec requires.
    const ordered: Weights = new Map(Object.keys(signed.manifest.tensorMap).map((n) => [n, weights.get(n)!]));
    this.model = { version: signed.version, cfg, weights: ordered };
    this.status.version = signed.version;
    this.log(
      `model version ${signed.version}: ${signed.manifest.chunks.length} chunks, ${this.summary.chunks.downloaded - before} downloaded`,
    );
  }

  /** One task end to end; returns false when the miner was stopped before submitting. */
  async runTask(): Promise<boolean> {
    const task = await this.client.postJson<Task>('/api/task', this.o.signTaskRequest);
    // Until the node holds the task closed (accepted, or refused with a closing code), a stop, a failure or a refusal
    // that leaves it open gives it back: otherwise it would hold one of the wallet's task slots until its deadline.
    let closed = false;
    try {
      const outcome = await this.trainAndSubmit(task);
      closed = outcome === 'accepted' || TASK_CLOSED_CODES.has(outcome);
      return outcome !== 'stopped';
    } finally {
      if (!closed) this.log(`task ${task.taskId.slice(0, 10)} ${await this.abandonTask(task.taskId)}`);
    }
  }

  /**
   * Gives a task back (DELETE /api/task/:id) so it no longer holds one of the wallet's task slots. Meant for a miner
   * that was just stopped, so it ignores the stop signal: one try with a short timeout. Never throws; says what happened.
   */
  private async abandonTask(taskId: string, timeoutMs = 5_000): Promise<string> {
    try {
      await this.client.json(
        `/api/task/${taskId}?wallet=${this.o.wallet}`,
        { method: 'DELETE' },
        { retry: NO_RETRY, signal: AbortSignal.timeout(timeoutMs), what: 'abandon' },
      );
      return 'abandoned';
    } catch (err) {
      return err instanceof NodeError && !err.unanswered
        ? `not abandoned: ${err.code}: ${err.message}`
        : `not abandoned: ${(err as Error).message}`;
    }
  }

  /** Trains on the task and submits; says 'accepted', 'stopped' or the refusal's code. */
  private async trainAndSubmit(task: Task): Promise<string> {
    checkCodecVersion(task);
    if (!this.model || this.model.version !== task.modelVersion) await this.loadModel(task.modelVersion);
    const model = this.model!;
    const raw = await this.client.bytes(`/api/task/${task.taskId}/tokens`);
    const tokens = tokensFromBytes(raw.bytes);
    this.status.steps = task.steps;
    this.status.step = 0;
    const device = { ...this.device };
    if (device.provider !== this.status.device.provider || device.deviceId !== this.status.device.deviceId)
      this.log(`training on ${deviceName(device)} from task ${task.taskId.slice(0, 10)}`);
    this.status.device = device;
    this.setPhase('training');
    let stepStart = performance.now();
    const result = await trainLocally(model.cfg, device.provider, model.weights, tokens, task, {
      deviceId: device.deviceId,
      shouldStop: () => this.stopped,
      onStep: async ({ step, loss, tokens: n }) => {
        const now = performance.now();
        const took = now - stepStart;
        this.status.step = step;
        this.status.loss = loss;
        this.status.tokensPerSecond = (n / took) * 1000;
        this.summary.tokens += n;
        this.o.onStep?.({
          at: Date.now(),
          modelVersion: task.modelVersion,
          taskId: task.taskId,
          step,
          loss,
          tokensPerSecond: this.status.tokensPerSecond,
          device: deviceName(device),
          power: this.power,
        });
        if (this.power < 100) {
          this.setPhase('resting');
          await this.rest(took, now);
          this.status.phase = 'training';
        }
        this.o.onStatus?.(this.status);
        stepStart = performance.now();
      },
    });
    this.summary.tasks++;
    this.status.tasks = this.summary.tasks;
    if (!result) return 'stopped';
    this.setPhase('submitting');
    const compressed = compressTaskUpdate(model.cfg, result.update, task);
    const path = submitPath({
      wallet: this.o.wallet,
      taskId: task.taskId,
      modelVersion: task.modelVersion,
      loss: result.losses.at(-1)!,
      batchSize: task.batchSize,
    });
    // A stop while the node verifies the update waits (bounded) for its answer: aborting would lose the task's result,
    // and the task could not even be given back while the node holds it busy.
    const grace = this.o.submitAnswerGraceMs ?? SUBMIT_ANSWER_GRACE_MS;
    const onStop = (): void =>
      this.log(`stopping: waiting up to ${grace / 1000} s for the node's answer on task ${task.taskId.slice(0, 10)}`);
    if (this.o.signal?.aborted) onStop();
    else this.o.signal?.addEventListener('abort', onStop, { once: true });
    try {
      const r = await this.client.json<SubmitAccepted>(
        path,
        {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: new Uint8Array(compressed.bytes),
        },
        { signal: graceAfter(this.o.signal, grace) },
      );
      const reward = BigInt(r.reward);
      this.summary.accepted.push({
        taskId: task.taskId,
        modelVersion: task.modelVersion,
        contribution: r.contribution,
        reward,
        quality: r.quality,
        ledger: 'unchecked',
      });
      this.summary.earned += reward;
      this.status.accepted++;
      this.status.earned += reward;
      this.log(
        `task ${task.taskId.slice(0, 10)} accepted: earned ${formatAlc(reward)} ALC (quality ${r.quality / 1000}x), ${compressed.bytes.length} bytes, contribution ${r.contribution}; measured by the node: ${measuredLine(r.measured)}`,
      );
      this.o.onStatus?.(this.status);
      return 'accepted';
    } catch (err) {
      if (err instanceof NodeError && err.code === 'ABORTED') {
        this.summary.unanswered.push(task.taskId);
        this.log(
          `task ${task.taskId.slice(0, 10)}: stopped before the node answered its submission; its result is unknown here (see the node's ledger)`,
        );
        return 'stopped';
      }
      if (!(err instanceof NodeError) || err.unanswered) throw err;
      this.status.rejected++;
      this.summary.rejections.push({ taskId: task.taskId, code: err.code, message: err.message });
      this.log(`task ${task.taskId.slice(0, 10)} rejected: ${err.code}: ${err.message}`);
      this.o.onStatus?.(this.status);
      return err.code;
    } finally {
      this.o.signal?.removeEventListener('abort', onStop);
    }
  }

  /** Looks up each accepted submission's contribution on the ledger. */
  async checkLedger(): Promise<SubmissionRecord[]> {
    for (const rec of this.summary.accepted) {
      if (rec.ledger === 'confirmed') continue;
      const res = await this.client.request(`/api/ledger/tx/${rec.contribution}`);
      if (res.status === 404) {
        rec.ledger = 'missing';
        continue;
      }
      if (!res.ok) throw await nodeErrorOf(res, 'ledger check');
      const body = (await res.json()) as { status: string; tx: { type: string; miner: string; reward: string; taskId: string } };
      if (
        body.tx.type !== 'contribution' ||
        body.tx.miner.toLowerCase() !== this.o.wallet.toLowerCase() ||
        BigInt(body.tx.reward) !== rec.reward ||
        body.tx.taskId !== rec.taskId
      ) {
        rec.ledger = 'mismatch';
      } else {
        rec.ledger = body.status === 'confirmed' ? 'confirmed' : 'pending';
      }
    }
    return this.summary.accepted.filter((r) => r.ledger !== 'confirmed');
  }

  /** Waits (polling) until every accepted submission is confirmed, or the deadline passes. */
  async settle(deadlineMs: number): Promise<SubmissionRecord[]> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const open = await this.checkLedger();
      // A record not found yet is polled until the deadline: it may be between the pool and a block.
      if (open.every((r) => r.ledger === 'mismatch') || Date.now() > end) return open;
      await pause(250);
    }
  }

  async run(): Promise<MinerSummary> {
    const started = performance.now();
    try {
      while (!this.stopped && (this.o.maxTasks === undefined || this.summary.tasks < this.o.maxTasks)) {
        try {
          await this.runTask();
        } catch (err) {
          if (this.stopped) break;
          if (err instanceof NodeError && err.code === 'TOO_MANY_TASKS') {
            this.setPhase('waiting');
            await pause(2000, this.o.signal);
            continue;
          }
          throw err;
        }
        if (this.stopped) break;
        // After every task: the records not yet confirmed (usually the last one or two), each said once when it goes
        // wrong. A failed check costs nothing but the check: the records stay unchecked for the next one.
        const before = new Map(this.summary.accepted.map((r) => [r, r.ledger]));
        try {
          for (const r of await this.checkLedger()) {
            if ((r.ledger === 'missing' || r.ledger === 'mismatch') && before.get(r) !== r.ledger)
              this.log(`ledger: contribution ${r.contribution} for task ${r.taskId.slice(0, 10)} is ${r.ledger}`);
          }
        } catch (err) {
          if (this.stopped) break;
          this.log(`ledger check failed (${(err as Error).message}); trying again after the next task`);
        }
        this.o.onStatus?.(this.status);
      }
    } finally {
      this.summary.seconds = (performance.now() - started) / 1000;
      this.setPhase('stopped');
    }
    return this.summary;
  }
}

function checkPower(power: number): void {
  if (!(Number.isFinite(power) && power >= 1 && power <= 100)) throw new RangeError(`power must be 1..100, got ${power}`);
}

export function deviceName(d: MinerDevice): string {
  return d.provider === 'cuda' && d.deviceId !== undefined ? `cuda:${d.deviceId}` : d.provider;
}
