/**
 * The miner's loop, one for every platform: fetch the current model (signed manifest, chunks from the platform's
 * cache), ask for a task, train on exactly its tokens, send the compressed update (top-k with error feedback), and
 * watch each accepted submission's `contribution` record with its reward reach the ledger. Browser-safe: what differs
 * between the native miner (onnxruntime-node, chunks on disk) and the browser's mining worker (onnxruntime-web,
 * chunks in IndexedDB) comes in as a `MinerPlatform`; HTTP goes through the one `NodeClient`, timers are the
 * standard ones.
 */
import { formatAlc } from '../../protocol/amount.js';
import { DEFAULT_RETRY, NO_RETRY, NodeClient, TRANSIENT_STATUSES, type RetryPolicy } from '../../protocol/client.js';
import { NodeError } from '../../protocol/errors.js';
import type { RoundStatus } from '../../protocol/ledger.js';
import { submitPath, TASK_CLOSED_CODES, type SignedTaskRequestBody, type SubmitAccepted, type Task } from '../../protocol/federation.js';
import { tokensFromBytes } from '../corpus/token-bytes.js';
import {
  fetchCoordinators,
  fetchVerifiedManifest,
  placeChunk,
  type ModelChunk,
  type SignedModelManifest,
} from '../federated/model-manifest.js';
import { checkCodecVersion, compressTaskUpdate, measuredLine } from '../federated/task-update.js';
import { trainTask } from '../federated/train-task.js';
import type { ModelConfig } from '../model/config.js';
import { checkWeights, type Weights } from '../model/weights.js';
import type { TrainSession } from '../runtime/train-session.js';
import { settled, watchContribution } from './ledger-check.js';
import type { DownloadProgress, GpuHealth, MinerDevice, MinerPhase, MinerStatus, StepPoint, SubmissionRecord } from './status.js';

/** A weight chunk as a cache hands it over. */
export interface FetchedChunk {
  bytes: Uint8Array;
  fromCache: boolean;
  /** A download that went on from a partial copy (HTTP Range). */
  resumed?: boolean;
  /** Bytes that came over the network for it (less than its size when resumed; 0 from the cache). */
  received: number;
}

/** Weight chunks named by their sha256: from a local cache, else downloaded through the miner's client, checked, kept. */
export interface ChunkSource {
  /** The chunk's bytes, checked against its name and size; throws when the node's copy does not match. */
  fetch(chunk: ModelChunk, client: NodeClient): Promise<FetchedChunk>;
  /** After a version is loaded: drops the chunks it does not name (a cache that holds one model only). */
  keepOnly?(names: ReadonlySet<string>): Promise<void>;
}

/** What a platform plugs into the loop. */
export interface MinerPlatform {
  chunks: ChunkSource;
  /**
   * A training session for `cfg` at the task's batch and sequence sizes, on `device`; with no device the platform
   * chooses one (the browser: WebGPU where it fits, else WASM). The loop keeps it for the next tasks of that shape.
   */
  openSession(cfg: ModelConfig, shape: { batchSize: number; seqLen: number }, device: MinerDevice | undefined): Promise<TrainSession>;
  /** Called once a task is trained, before its update is compressed: the training's arrays are garbage (native: collected at once). */
  afterTraining?(): void;
  /**
   * Compresses a task's update as `compressTaskUpdate` does, off the calling thread (native: a worker thread; on
   * AILO-1B it takes over a minute). Absent: `compressTaskUpdate` here (the browser miner already runs in a worker).
   */
  compress?(
    cfg: ModelConfig,
    update: Map<string, Float32Array>,
    limits: { density: number; maxAbs: number },
  ): Promise<{ bytes: Uint8Array }>;
}

export interface MinerOptions {
  /** EIP-55 checksummed wallet address that receives the rewards. */
  wallet: string;
  /**
   * Signs a fresh task request (new nonce, issued now) for `wallet` to `coordinator` (the address GET /api/round names
   * as the coordinator answering); called once per POST /api/task attempt.
   */
  signTaskRequest: (coordinator: string) => Promise<SignedTaskRequestBody>;
  nodeUrl: string;
  platform: MinerPlatform;
  /**
   * The fetch of submissions (default: the client's). The native miner's waits as long as a node takes to verify one
   * (trainer/miner/patient-fetch.ts): on a large model a coordinator's recomputation takes minutes, past Node's default
   * 300 s wait for an answer's headers, after which the update would be sent again while the first is being verified.
   */
  submitFetch?: typeof fetch;
  /** Where to train; absent: the platform chooses at the first task. Changeable with setDevice. */
  device?: MinerDevice;
  /**
   * The training GPU's health (gpu-health.ts), read at most every HEALTH_EVERY_MS between steps; absent where there is
   * none to read. Above `maxTemperatureC` the miner rests until the GPU is COOL_BY degrees below it.
   */
  gpuHealth?: () => Promise<GpuHealth | undefined>;
  /** The temperature limit, Celsius (default 80, what the product promises). */
  maxTemperatureC?: number;
  /** How often the GPU's health is read, ms (default HEALTH_EVERY_MS). */
  healthEveryMs?: number;
  /** Duty cycle in percent: after a step that took t, rest t * (100 - power) / power. Changeable with setPower. */
  power: number;
  /** Stop after this many tasks (tests and benchmarks); unbounded by default. */
  maxTasks?: number;
  signal?: AbortSignal;
  /** How long a stop waits for the node's answer to a submission in flight (default SUBMIT_ANSWER_GRACE_MS). */
  submitAnswerGraceMs?: number;
  /** The wait before a VERIFIER_BUSY submission is sent again, ms (default: the node's Retry-After, else BUSY_RESEND_MS). */
  busyResendMs?: number;
  /** How long an accepted contribution may stay out of a block before it is reported missing, ms (default 60,000). */
  ledgerDeadlineMs?: number;
  retry?: RetryPolicy;
  log?: (line: string) => void;
  onStatus?: (s: MinerStatus) => void;
  /** After every training step, once: the points of the loss and tokens/s history. */
  onStep?: (p: StepPoint) => void;
  /** As a model version's chunks arrive (the last one once the cache holds exactly that version). */
  onDownload?: (p: DownloadProgress) => void;
  /** A task was issued to this miner (it is open on the node until submitted or given back). */
  onTask?: (task: Task) => void;
  /** The task no longer holds a slot of the wallet's: accepted, refused with a closing code, or given back (or tried). */
  onTaskEnd?: (taskId: string) => void;
  /** The node's answer to a submission: the accepted record, or the refusal. */
  onOutcome?: (o: { accepted: SubmissionRecord } | { rejected: Rejection }) => void;
  /** An accepted submission's ledger check changed. */
  onLedger?: (r: SubmissionRecord) => void;
}

export interface Rejection {
  taskId: string;
  code: string;
  message: string;
}

export interface ChunkFetchStats {
  fromCache: number;
  downloaded: number;
  bytesDownloaded: number;
  resumed: number;
}

export interface MinerSummary {
  tasks: number;
  accepted: SubmissionRecord[];
  rejections: Rejection[];
  /** Tasks submitted but stopped before the node's answer came (SUBMIT_ANSWER_GRACE_MS after a stop). */
  unanswered: string[];
  earned: bigint;
  tokens: number;
  seconds: number;
  chunks: ChunkFetchStats;
}

/** How long a stopped miner still waits for the node's answer to a submission already sent. */
export const SUBMIT_ANSWER_GRACE_MS = 60_000;
/** How long the miner waits before sending a VERIFIER_BUSY submission again, when the node gives no Retry-After. */
export const BUSY_RESEND_MS = 30_000;
/** How long in all the miner keeps sending a VERIFIER_BUSY submission again (the task's deadline may come first). */
export const BUSY_WAIT_LIMIT_MS = 2 * 3_600_000;
const DOWNLOADS_IN_PARALLEL = 4;
/** The temperature limit the product promises, Celsius; degrees below it a hot GPU cools to; how often it is read. */
export const DEFAULT_MAX_TEMPERATURE_C = 80;
const COOL_BY = 5;
const HEALTH_EVERY_MS = 5_000;
/** WRONG_COORDINATOR answers from one node (each after asking it again who answers) before the miner goes elsewhere. */
const WRONG_COORDINATOR_TRIES = 3;
/** Attempts at a task request while another coordinator is known (see MinerLoop.taskRetry). */
const TASK_ATTEMPTS_WITH_ELSEWHERE = 3;

/** A signal that aborts `ms` after `signal` does (never, without one). */
function graceAfter(signal: AbortSignal | undefined, ms: number): AbortSignal | undefined {
  if (!signal) return undefined;
  const grace = new AbortController();
  const start = (): void => void (setTimeout(() => grace.abort(), ms) as { unref?: () => void }).unref?.();
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

/** Runs `fn` over `items` with at most `limit` in flight. */
async function parallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

export class MinerLoop {
  /** The node the miner works with now (another of the network's coordinators once this one stops answering). */
  client: NodeClient;
  /** Nodes to go on with when the one in use stops answering: the given one, then the live coordinators it names. */
  private nodes: string[];
  /** Where each genesis coordinator answers, as the nodes' GET /api/round name them (one URL each). */
  private readonly coordinatorUrls = new Map<string, string>();
  /** The coordinator answering at each node URL (GET /api/round's `coordinator`): who a task request is signed for. */
  private readonly coordinatorAt = new Map<string, string>();
  /** Nodes that went unanswered since the miner last got a task (see moveOn). */
  private readonly unanswered = new Set<string>();
  private model: { version: number; cfg: ModelConfig; weights: Weights } | undefined;
  private session: TrainSession | undefined;
  /** A session being opened (beside a download), so that a stop in between still disposes it. */
  private opening: Promise<TrainSession> | undefined;
  /** The background ledger watches, by contribution: each ends when its record is settled or its deadline passes. */
  private readonly watches = new Map<string, AbortController>();
  private coordinators: Set<string> | undefined;
  readonly status: MinerStatus;
  readonly summary: MinerSummary;
  private readonly log: (line: string) => void;
  /** Sessions whose fall back from the Loop was logged (once each). */
  private readonly fellBackLogged = new WeakSet<TrainSession>();
  /** Settings changed while running: power takes effect at once, the device at the next task. */
  private power: number;
  private device: MinerDevice | undefined;
  private wakeRest: (() => void) | undefined;
  /** When the GPU's health was last read (performance.now() ms). */
  private healthReadAt = -Infinity;

  constructor(readonly o: MinerOptions) {
    checkPower(o.power);
    this.power = o.power;
    this.device = o.device && { ...o.device };
    this.status = {
      phase: 'starting',
      device: this.device ? { ...this.device } : null,
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
    this.nodes = [o.nodeUrl.replace(/\/+$/, '')];
    this.client = this.clientFor(this.nodes[0]!);
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

  private clientFor(url: string): NodeClient {
    return new NodeClient(url, { retry: this.o.retry, signal: this.o.signal, onRetry: (e) => this.log(e.line) });
  }

  /** The genesis coordinators (lowercase), read once from the node the miner was started with. */
  private async genesisCoordinators(): Promise<Set<string>> {
    this.coordinators ??= await fetchCoordinators(this.clientFor(this.nodes[0]!));
    return this.coordinators;
  }

  /**
   * Learns where else to go: the coordinators the node names live in GET /api/round (any node of the network
   * answers it), only those the genesis names and at most one http(s) URL each, so the list stays the coordinator
   * count plus the node the miner was started with. Never throws: a node that does not answer leaves it as it was.
   */
  private async learnNodes(): Promise<void> {
    try {
      const round = await this.client.json<RoundStatus>('/api/round', {}, { retry: NO_RETRY, timeoutMs: 10_000, what: 'round' });
      this.noteCoordinator(this.client.baseUrl, round);
      const genesis = await this.genesisCoordinators();
      for (const c of round.coordinators ?? []) {
        const address = c.address?.toLowerCase();
        if (!c.live || !c.url || !address || !genesis.has(address)) continue;
        let url: URL;
        try {
          url = new URL(c.url);
        } catch {
          continue;
        }
        if (url.protocol === 'http:' || url.protocol === 'https:') this.coordinatorUrls.set(address, url.origin);
      }
      this.nodes = [...new Set([this.nodes[0]!, ...this.coordinatorUrls.values()])];
    } catch {
      // keep what is known
    }
  }

  /**
   * Moves to a known node that has not gone unanswered since the miner last got a task; false when there is none
   * (then the miner stops, as with a single node, instead of going round them for ever).
   */
  private moveOn(err: NodeError, why = 'does not answer'): boolean {
    this.unanswered.add(this.client.baseUrl);
    const next = this.nodes.find((u) => !this.unanswered.has(u));
    if (!next) return false;
    this.log(`${this.client.baseUrl} ${why} (${err.message}); going on with ${next}, a coordinator of this network`);
    this.client = this.clientFor(next);
    return true;
  }

  /** The next known node after the one in use, in turn, that has not gone unanswered since the last task. */
  private nextNode(): string | undefined {
    const at = this.nodes.indexOf(this.client.baseUrl);
    for (let i = 1; i < this.nodes.length; i++) {
      const u = this.nodes[(at + i) % this.nodes.length]!;
      if (!this.unanswered.has(u)) return u;
    }
    return undefined;
  }

  private get stopped(): boolean {
    return this.o.signal?.aborted ?? false;
  }

  /** The settings in force: power now, the device from the next task (undefined: the platform chooses). */
  get settings(): { power: number; device: MinerDevice | undefined } {
    return { power: this.power, device: this.device && { ...this.device } };
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
    if (this.device && sameDevice(device, this.device)) return;
    this.device = { ...device };
    this.log(
      `device set to ${deviceName(device)}${this.status.phase === 'training' || this.status.phase === 'resting' ? ', from the next task' : ''}`,
    );
  }

  private setPhase(phase: MinerPhase): void {
    this.status.phase = phase;
    this.o.onStatus?.(this.status);
  }

  /**
   * Reads the GPU's health (at most every HEALTH_EVERY_MS) and, above the temperature limit, rests until the GPU has
   * cooled to COOL_BY degrees below it, saying so once.
   */
  async coolDown(): Promise<void> {
    const read = this.o.gpuHealth;
    const every = this.o.healthEveryMs ?? HEALTH_EVERY_MS;
    if (!read || performance.now() - this.healthReadAt < every) return;
    this.healthReadAt = performance.now();
    const limit = this.o.maxTemperatureC ?? DEFAULT_MAX_TEMPERATURE_C;
    let health = await read();
    this.status.gpu = health;
    if (!health || health.temperatureC <= limit) return;
    this.log(
      `GPU ${health.index} (${health.name}) at ${health.temperatureC} C, above the ${limit} C limit: resting until it cools to ${limit - COOL_BY} C`,
    );
    this.setPhase('cooling');
    while (!this.stopped && health && health.temperatureC > limit - COOL_BY) {
      await pause(every, this.o.signal);
      health = await read();
      this.status.gpu = health;
      this.o.onStatus?.(this.status);
    }
    if (!this.stopped) this.log(`GPU ${health?.index ?? ''} at ${health?.temperatureC ?? '?'} C: training again`);
    this.status.phase = 'training';
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
    return fetchVerifiedManifest(this.client, await this.genesisCoordinators(), version);
  }

  /** The session for `task` on the device in force: the last one where it fits, else a new one. */
  private async sessionFor(cfg: ModelConfig, task: { batchSize: number; seqLen: number }): Promise<TrainSession> {
    const s = this.session;
    if (s && s.fits(cfg, task) && (!this.device || sameDevice(this.device, s.runtime.device as MinerDevice))) return s;
    this.session = undefined;
    await s?.dispose();
    this.opening = this.o.platform.openSession(cfg, task, this.device);
    try {
      this.session = await this.opening;
    } finally {
      this.opening = undefined;
    }
    return this.session;
  }

  /**
   * Loads a version's weights, downloading only chunks the cache lacks; with a task, opens its training session
   * meanwhile (the graph needs only the manifest's config).
   */
  async loadModel(version?: number, task?: Task): Promise<void> {
    const signed = await this.fetchManifest(version);
    const { chunks, tensorMap, config } = signed.manifest;
    const weights: Weights = new Map();
    const stats = this.summary.chunks;
    const before = stats.downloaded;
    const progress: DownloadProgress = {
      version: signed.version,
      chunks: chunks.length,
      ready: 0,
      fromCache: 0,
      downloaded: 0,
      bytesTotal: signed.manifest.totalBytes,
      bytesReady: 0,
    };
    this.setPhase('loading-model');
    this.o.onDownload?.({ ...progress });
    await Promise.all([
      task && this.sessionFor(config, task),
      parallel(chunks, DOWNLOADS_IN_PARALLEL, async (chunk) => {
        const got = await this.o.platform.chunks.fetch(chunk, this.client);
        placeChunk(signed.manifest, weights, chunk, got.bytes);
        if (got.fromCache) stats.fromCache++;
        else stats.downloaded++;
        stats.bytesDownloaded += got.received;
        if (got.resumed) stats.resumed++;
        progress.ready++;
        progress.bytesReady += chunk.size;
        if (got.fromCache) progress.fromCache++;
        else progress.downloaded++;
        if (progress.ready < progress.chunks) this.o.onDownload?.({ ...progress });
      }),
    ]);
    checkWeights(config, weights);
    await this.o.platform.chunks.keepOnly?.(new Set(chunks.map((c) => c.name)));
    this.o.onDownload?.({ ...progress });
    // The parameter order of the model, which the update codec requires.
    this.model = { version: signed.version, cfg: config, weights: new Map(Object.keys(tensorMap).map((n) => [n, weights.get(n)!])) };
    this.status.version = signed.version;
    this.log(
      `model version ${signed.version}: ${chunks.length} chunks, ${progress.fromCache} from the cache, ${stats.downloaded - before} downloaded`,
    );
  }

  /**
   * The task request's retries: the client's policy, but with another coordinator to go to, at most
   * TASK_ATTEMPTS_WITH_ELSEWHERE (about 1.5 s of waiting): nothing is lost by asking elsewhere, while a task's tokens
   * and submission keep the full patience (they belong to the coordinator that issued it).
   */
  private taskRetry(): RetryPolicy {
    const policy = this.o.retry ?? DEFAULT_RETRY;
    // The last node not tried since the last task gets the full patience: nowhere else is left to go.
    const elsewhere = this.nodes.some((u) => u !== this.client.baseUrl && !this.unanswered.has(u));
    return elsewhere ? { ...policy, attempts: Math.min(policy.attempts, TASK_ATTEMPTS_WITH_ELSEWHERE) } : policy;
  }

  private noteCoordinator(url: string, round: RoundStatus): void {
    if (round.coordinator) this.coordinatorAt.set(url, round.coordinator);
    else this.coordinatorAt.delete(url);
  }

  /** The coordinator answering at the node in use, from GET /api/round (asked again when not known). */
  private async coordinator(): Promise<string> {
    const url = this.client.baseUrl;
    if (!this.coordinatorAt.has(url))
      this.noteCoordinator(url, await this.client.json<RoundStatus>('/api/round', {}, { retry: this.taskRetry(), what: 'round' }));
    const c = this.coordinatorAt.get(url);
    if (!c) throw new NodeError(0, 'NO_MODEL', `${url} names no coordinator in GET /api/round: it runs no training rounds`);
    // Signed only for a coordinator the genesis names: a node cannot collect requests signed for anyone else.
    if (!(await this.genesisCoordinators()).has(c.toLowerCase()))
      throw new NodeError(0, 'WRONG_COORDINATOR', `${url} names ${c} as its coordinator, which the genesis does not name`);
    return c;
  }

  /** One task end to end; returns false when the miner was stopped before submitting. */
  async runTask(): Promise<boolean> {
    const coordinator = await this.coordinator();
    const task = await this.client.postJson<Task>('/api/task', () => this.o.signTaskRequest(coordinator), {
      what: 'task',
      retry: this.taskRetry(),
    });
    this.unanswered.clear();
    this.o.onTask?.(task);
    // Until the node holds the task closed (accepted, or refused with a closing code), a stop, a failure or a refusal
    // that leaves it open gives it back: otherwise it would hold one of the wallet's task slots until its deadline.
    let closed = false;
    try {
      const outcome = await this.trainAndSubmit(task);
      closed = outcome === 'accepted' || TASK_CLOSED_CODES.has(outcome);
      return outcome !== 'stopped';
    } finally {
      if (!closed) this.log(`task ${task.taskId.slice(0, 10)} ${await abandonTask(this.client, this.o.wallet, task.taskId)}`);
      this.o.onTaskEnd?.(task.taskId);
    }
  }

  /** Trains on the task and submits; says 'accepted', 'stopped', 'diverged' (not submitted) or the refusal's code. */
  private async trainAndSubmit(task: Task): Promise<string> {
    checkCodecVersion(task);
    if (!this.model || this.model.version !== task.modelVersion) await this.loadModel(task.modelVersion, task);
    const model = this.model!;
    const session = await this.sessionFor(model.cfg, task);
    const raw = await this.client.bytes(`/api/task/${task.taskId}/tokens`, {}, { what: 'tokens' });
    const tokens = tokensFromBytes(raw.bytes);
    this.status.steps = task.steps;
    this.status.step = 0;
    const device = session.runtime.device as MinerDevice;
    if (!this.status.device || !sameDevice(device, this.status.device))
      this.log(`training on ${deviceName(device)} from task ${task.taskId.slice(0, 10)}`);
    this.status.device = { ...device };
    this.setPhase('training');
    const stepMs: number[] = [];
    const result = await trainTask(session, model.weights, tokens, task, {
      shouldStop: () => this.stopped,
      // A session in a Loop (cuda) runs steps for about this long between stops, rests and health checks.
      runMs: Math.max(this.o.healthEveryMs ?? HEALTH_EVERY_MS, 1),
      // A session in a Loop (cuda) reports a run's steps together after it, each with its share of the run's time: the
      // rests after them add up to the duty cycle's share of the run.
      onStep: async ({ step, loss, tokens: n, ms: took }) => {
        const now = performance.now();
        stepMs.push(took);
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
        await this.coolDown();
        this.o.onStatus?.(this.status);
      },
    });
    this.summary.tasks++;
    this.status.tasks = this.summary.tasks;
    if (session.loopFellBack && !this.fellBackLogged.has(session)) {
      this.fellBackLogged.add(session);
      this.log(`the device ran out of memory for several steps a run; training a step a run (${session.loopFellBack.split('\n')[0]})`);
    }
    if (!result) return 'stopped';
    this.log(`task ${task.taskId.slice(0, 10)} trained: ${trainingLine(stepMs, task.batchSize * task.seqLen, result.losses)}`);
    const diverged = result.losses.findIndex((l) => !Number.isFinite(l));
    if (diverged >= 0) {
      // Nothing worth paying to send: the task is given back and the miner goes on with the next one.
      this.log(
        `task ${task.taskId.slice(0, 10)}: training diverged at step ${diverged + 1} (loss ${result.losses[diverged]}); not submitted`,
      );
      return 'diverged';
    }
    this.setPhase('submitting');
    // Before the compression, which holds a second copy of the update: the session's moments and gradients are
    // garbage now (measured on ailo-1b: collected after it, they took the miner 2.7 GiB past a 16 GiB plan, killed).
    this.o.platform.afterTraining?.();
    const limits = { density: task.density, maxAbs: task.maxAbs };
    const compressed = this.o.platform.compress
      ? await this.o.platform.compress(model.cfg, result.update, limits)
      : compressTaskUpdate(model.cfg, result.update, limits);
    result.update.clear(); // the dense update: the compressed one is what goes
    const path = submitPath({
      wallet: this.o.wallet,
      taskId: task.taskId,
      modelVersion: task.modelVersion,
      loss: result.losses.at(-1)!,
      batchSize: task.batchSize,
      // The coordinator learns what the memory planner chose on this machine.
      settings: `${device.provider}/${session.layout}/${session.moments}${session.precision === 'fp16' ? '/fp16' : ''}`,
    });
    // A stop while the node verifies the update waits (bounded) for its answer: aborting would lose the task's result,
    // and the task could not even be given back while the node holds it busy.
    const grace = this.o.submitAnswerGraceMs ?? SUBMIT_ANSWER_GRACE_MS;
    const onStop = (): void =>
      this.log(`stopping: waiting up to ${grace / 1000} s for the node's answer on task ${task.taskId.slice(0, 10)}`);
    if (this.o.signal?.aborted) onStop();
    else this.o.signal?.addEventListener('abort', onStop, { once: true });
    try {
      const r = await this.submitWhileBusy(task, () =>
        this.client.json<SubmitAccepted>(
          path,
          {
            method: 'POST',
            headers: { 'content-type': 'application/octet-stream' },
            body: compressed.bytes as Uint8Array<ArrayBuffer>,
          },
          { signal: graceAfter(this.o.signal, grace), what: 'submit', fetch: this.o.submitFetch },
        ),
      );
      const reward = BigInt(r.reward);
      const record: SubmissionRecord = {
        taskId: task.taskId,
        modelVersion: task.modelVersion,
        contribution: r.contribution,
        reward,
        quality: r.quality,
        ledger: { status: 'checking', detail: 'looking for the contribution on the ledger' },
      };
      this.summary.accepted.push(record);
      this.summary.earned += reward;
      this.status.accepted++;
      this.status.earned += reward;
      this.log(
        `task ${task.taskId.slice(0, 10)} accepted: earned ${formatAlc(reward)} ALC (quality ${r.quality / 1000}x), ${compressed.bytes.length} bytes, contribution ${r.contribution}; measured by the node: ${measuredLine(r.measured)}`,
      );
      this.o.onOutcome?.({ accepted: record });
      this.o.onStatus?.(this.status);
      this.watchInBackground(record);
      return 'accepted';
    } catch (err) {
      if (err instanceof NodeError && err.code === 'ABORTED') {
        this.summary.unanswered.push(task.taskId);
        this.log(
          `task ${task.taskId.slice(0, 10)}: stopped before the node answered its submission; its result is unknown here (see the node's ledger)`,
        );
        return 'stopped';
      }
      // Unanswered, or still VERIFIER_BUSY when the waiting ended: no verdict on the update, so the run loop decides
      // (another coordinator, or stop), as for a node that does not answer.
      if (!(err instanceof NodeError) || err.unanswered || err.code === 'VERIFIER_BUSY') throw err;
      const rejected = { taskId: task.taskId, code: err.code, message: err.message };
      this.status.rejected++;
      this.summary.rejections.push(rejected);
      this.log(`task ${task.taskId.slice(0, 10)} rejected: ${err.code}: ${err.message}`);
      this.o.onOutcome?.({ rejected });
      this.o.onStatus?.(this.status);
      return err.code;
    } finally {
      this.o.signal?.removeEventListener('abort', onStop);
    }
  }

  /**
   * `send()` (one submission, with the client's retries), sent again while the node answers 503 VERIFIER_BUSY (its
   * own training of the task does not fit its memory for now; the task stays open) and time is left: the task's
   * deadline, and at most BUSY_WAIT_LIMIT_MS in all (a node sets the deadline). The waits: the node's Retry-After, or
   * BUSY_RESEND_MS. A stop ends the waiting; the last answer is then thrown (the caller leaves such a node).
   */
  private async submitWhileBusy<T>(task: Task, send: () => Promise<T>): Promise<T> {
    const until = Math.min(task.deadline, Date.now() + BUSY_WAIT_LIMIT_MS);
    for (;;) {
      try {
        return await send();
      } catch (err) {
        if (!(err instanceof NodeError && err.code === 'VERIFIER_BUSY') || this.o.signal?.aborted) throw err;
        const waitMs = this.o.busyResendMs ?? ((err.retryAfterSeconds ?? 0) * 1000 || BUSY_RESEND_MS);
        if (Date.now() + waitMs >= until) throw err;
        this.log(
          `task ${task.taskId.slice(0, 10)}: the node cannot verify it yet (VERIFIER_BUSY: ${err.message}); the update is kept and sent again in ${waitMs / 1000} s, until the task's deadline`,
        );
        await pause(waitMs, this.o.signal);
        if (this.o.signal?.aborted) throw err;
      }
    }
  }

  /** Follows `record` on the ledger while the miner goes on (until settled, the deadline, a stop or `settle`). */
  private watchInBackground(record: SubmissionRecord): void {
    const stop = new AbortController();
    this.watches.set(record.contribution, stop);
    const onStop = (): void => stop.abort();
    this.o.signal?.addEventListener('abort', onStop, { once: true });
    void this.watchLedger(record, () => this.client, this.o.ledgerDeadlineMs, stop.signal)
      .catch((err: Error) => this.log(`ledger check of ${record.contribution} failed: ${err.message}`))
      .finally(() => {
        this.o.signal?.removeEventListener('abort', onStop);
        if (this.watches.get(record.contribution) === stop) this.watches.delete(record.contribution);
      });
  }

  /** Follows one accepted record on the ledger until it is settled or `deadlineMs` pass (see watchContribution). */
  private async watchLedger(
    record: SubmissionRecord,
    client: NodeClient | (() => NodeClient),
    deadlineMs?: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const verdict = await watchContribution(
      { contribution: record.contribution, taskId: record.taskId, wallet: this.o.wallet, reward: record.reward.toString() },
      {
        client,
        deadlineMs,
        signal,
        onChange: (c) => {
          record.ledger = c;
          this.o.onLedger?.(record);
          this.o.onStatus?.(this.status);
        },
      },
    );
    if (verdict.status === 'missing' || verdict.status === 'mismatch')
      this.log(
        `ledger: contribution ${record.contribution} for task ${record.taskId.slice(0, 10)} is ${verdict.status}: ${verdict.detail}`,
      );
  }

  /**
   * Checks every accepted submission not yet settled (the background watches end here), at most `deadlineMs`; after a
   * stop too (with a client of its own, which the stop does not cut short). Returns the records not confirmed.
   */
  async settle(deadlineMs: number): Promise<SubmissionRecord[]> {
    for (const w of this.watches.values()) w.abort();
    this.watches.clear();
    const client = new NodeClient(this.client.baseUrl);
    await Promise.all(this.summary.accepted.filter((r) => !settled(r.ledger)).map((r) => this.watchLedger(r, client, deadlineMs)));
    return this.summary.accepted.filter((r) => r.ledger.status !== 'confirmed');
  }

  async run(): Promise<MinerSummary> {
    const started = performance.now();
    let waiting = false;
    /** ROUND_FULL answers in a row, from the coordinators asked in turn. */
    let full = 0;
    /** WRONG_COORDINATOR answers in a row from the node in use. */
    let wrong = 0;
    try {
      while (!this.stopped && (this.o.maxTasks === undefined || this.summary.tasks < this.o.maxTasks)) {
        try {
          await this.learnNodes();
          await this.runTask();
          waiting = false;
          full = 0;
          wrong = 0;
        } catch (err) {
          if (this.stopped) break;
          const next = err instanceof NodeError && err.code === 'ROUND_FULL' ? this.nextNode() : undefined;
          if (next) {
            // This coordinator's share of the round is paid: another coordinator may still have work. Each is asked in
            // turn (none that went unanswered since the last task); a wait only once all of them were full.
            full++;
            this.log(`${this.client.baseUrl}: ${(err as Error).message}; asking ${next}, another coordinator of this network`);
            this.client = this.clientFor(next);
            if (full % this.nodes.length === 0) {
              this.setPhase('waiting');
              await pause(2000, this.o.signal);
            }
            continue;
          }
          if (err instanceof NodeError && (err.code === 'TOO_MANY_TASKS' || err.code === 'ROUND_FULL')) {
            // Said once per wait, not every two seconds.
            if (!waiting)
              this.log(
                `${err.code === 'TOO_MANY_TASKS' ? 'the node has enough open tasks from this wallet' : "the node's share of this round is full"}; waiting (${err.message})`,
              );
            waiting = true;
            this.setPhase('waiting');
            await pause(2000, this.o.signal);
            continue;
          }
          if (err instanceof NodeError && err.code === 'WRONG_COORDINATOR' && ++wrong < WRONG_COORDINATOR_TRIES) {
            // The node now forwards to another coordinator (a follower whose coordinator stopped): ask who, sign again.
            this.log(`${err.message}; asking the node again which coordinator answers`);
            this.coordinatorAt.delete(this.client.baseUrl);
            await pause(500 * wrong, this.o.signal);
            continue;
          }
          wrong = 0;
          if (err instanceof NodeError && TRANSIENT_STATUSES.has(err.status) && this.moveOn(err, 'cannot take it now')) continue;
          if (err instanceof NodeError && (err.unanswered || err.code === 'WRONG_COORDINATOR') && this.moveOn(err)) continue;
          // A refusal the loop cannot act on, from a node other than the one it was started with: go elsewhere.
          if (err instanceof NodeError && this.client.baseUrl !== this.nodes[0] && this.moveOn(err, 'refuses')) continue;
          throw err;
        }
        this.o.onStatus?.(this.status);
      }
    } finally {
      this.summary.seconds = (performance.now() - started) / 1000;
      const session = this.session ?? (await this.opening?.catch(() => undefined));
      this.session = undefined;
      await session?.dispose();
      this.setPhase('stopped');
    }
    return this.summary;
  }
}

/**
 * Gives a task back (DELETE /api/task/:id) so it no longer holds one of the wallet's task slots. Meant for a miner
 * that was just stopped, so it ignores the stop signal: one try with a short timeout (`keepalive`, so that a closing
 * page still sends it). Never throws; says what happened.
 */
export async function abandonTask(client: NodeClient, wallet: string, taskId: string, timeoutMs = 5_000): Promise<string> {
  try {
    // Its own (absent) stop signal: the miner's stop, which is why it is giving the task back, must not cut this short.
    const { state } = await client.json<{ state: string }>(
      `/api/task/${taskId}?wallet=${wallet}`,
      { method: 'DELETE', keepalive: true },
      { retry: NO_RETRY, signal: new AbortController().signal, timeoutMs, what: 'abandon' },
    );
    // A submission that got in before the stop leaves nothing to give back (the node answers with the task's state).
    if (state === 'abandoned') return 'abandoned';
    if (state === 'busy') return 'given back (its submission is being verified; abandoned if that is refused)';
    return `nothing to give back: the task is already ${state}`;
  } catch (err) {
    return err instanceof NodeError && !err.unanswered
      ? `not abandoned: ${err.code}: ${err.message}`
      : `not abandoned: ${(err as Error).message}`;
  }
}

/**
 * "4 steps of 256 tokens in 93.1 s (first 24.0 s, then 23.0 s a step: 11.1 tokens/s), loss 10.9 -> 8.4": the time
 * the steps took, rests excluded; the first step apart, as it includes the session's first run.
 */
export function trainingLine(stepMs: readonly number[], tokensPerStep: number, losses: readonly number[]): string {
  const total = stepMs.reduce((a, b) => a + b, 0);
  const later = stepMs.slice(1);
  const steady = later.length > 0 ? later.reduce((a, b) => a + b, 0) / later.length : total;
  const secs = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
  return (
    `${stepMs.length} steps of ${tokensPerStep} tokens in ${secs(total)} s (first ${secs(stepMs[0] ?? 0)} s, then ${secs(steady)} s a step: ` +
    `${((tokensPerStep * 1000) / steady).toFixed(steady > 1000 ? 2 : 0)} tokens/s), loss ${losses[0]?.toFixed(3)} -> ${losses.at(-1)?.toFixed(3)}`
  );
}

function checkPower(power: number): void {
  if (!(Number.isFinite(power) && power >= 1 && power <= 100)) throw new RangeError(`power must be 1..100, got ${power}`);
}

/** The same device: the same provider, and for cuda the same index (absent: device 0). */
export function sameDevice(a: MinerDevice, b: MinerDevice): boolean {
  return a.provider === b.provider && (a.provider !== 'cuda' || (a.deviceId ?? 0) === (b.deviceId ?? 0));
}

export function deviceName(d: MinerDevice): string {
  return d.provider === 'cuda' && d.deviceId !== undefined ? `cuda:${d.deviceId}` : d.provider;
}
