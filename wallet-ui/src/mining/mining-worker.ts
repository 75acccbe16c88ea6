/**
 * The browser miner, in a module worker so the page stays responsive: checks the device, loads the signed model
 * (chunks from IndexedDB or fetched in parallel and verified), then asks for tasks, trains, compresses and submits
 * under the wallet it was given, resting between steps by the power setting. The page stops it by terminating it.
 * Each task request is signed by the page, which holds the wallet's key; the key never comes to the worker.
 */
import { checkCodecVersion, compressTaskUpdate, measuredLine } from '../../../trainer/federated/task-update.js';
import {
  fetchCoordinators,
  fetchVerifiedManifest,
  placeChunk,
  type SignedModelManifest,
} from '../../../trainer/federated/model-manifest.js';
import type { ModelConfig } from '../../../trainer/model/config.js';
import { checkWeights, type Weights } from '../../../trainer/model/weights.js';
import { BrowserTrainSession } from './browser-trainer.js';
import { benchTraining } from './bench-training.js';
import { ChunkStore } from './chunk-store.js';
import { planDevice } from './device-check.js';
import type { DownloadProgress, MiningBackend, PageToWorker, WorkerToPage } from './protocol.js';
import { NodeClient } from '../../../protocol/client.js';
import { NodeError } from '../../../protocol/errors.js';
import { submitPath, type SignedTaskRequestBody, type SubmitAccepted, type Task } from '../../../protocol/federation.js';

const scope = self as unknown as { postMessage(m: WorkerToPage): void; onmessage: ((e: MessageEvent<PageToWorker>) => void) | null };
const post = (m: WorkerToPage): void => scope.postMessage(m);
const origin = self.location.origin;
const DOWNLOADS_IN_PARALLEL = 4;

/** The node that serves this page; retries while it is unreachable, each retry in the panel's log. */
const client = new NodeClient(origin, { onRetry: (e) => post({ type: 'log', line: e.line }) });

const call = <T>(path: string, what: string, init: RequestInit | (() => Promise<RequestInit>) = {}): Promise<T> =>
  client.json<T>(path, init, { what });

const rest = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Signatures asked of the page and not yet answered, by id. */
const signing = new Map<number, { resolve: (body: SignedTaskRequestBody) => void; reject: (err: Error) => void }>();
let lastSigningId = 0;

/** A task request signed by the page (with the logged-in wallet's key): fresh time and nonce on every call. */
function signedTaskRequest(): Promise<SignedTaskRequestBody> {
  const id = ++lastSigningId;
  return new Promise((resolve, reject) => {
    signing.set(id, { resolve, reject });
    post({ type: 'sign-task-request', id });
  });
}

class BrowserMiner {
  private power: number;
  private model: { version: number; cfg: ModelConfig; weights: Weights } | undefined;
  private session: BrowserTrainSession | undefined;
  private backend: MiningBackend | undefined;
  private coordinators: Set<string> | undefined;

  constructor(
    private readonly wallet: string,
    power: number,
    private readonly choice: 'auto' | MiningBackend,
    private readonly store: ChunkStore,
  ) {
    this.power = power;
  }

  setPower(power: number): void {
    this.power = Math.min(100, Math.max(1, power));
  }

  private async manifest(version: number): Promise<SignedModelManifest> {
    this.coordinators ??= await fetchCoordinators(client);
    return fetchVerifiedManifest(client, this.coordinators, version);
  }

  /** Loads model `version` and, meanwhile, the session for `task`: the graph needs only the manifest's config. */
  private async loadModel(version: number, task: Task): Promise<BrowserTrainSession> {
    const signed = await this.manifest(version);
    const { chunks, tensorMap, config } = signed.manifest;
    const progress: DownloadProgress = {
      version,
      chunks: chunks.length,
      ready: 0,
      fromCache: 0,
      downloaded: 0,
      bytesTotal: signed.manifest.totalBytes,
      bytesReady: 0,
    };
    post({ type: 'download', progress: { ...progress } });
    const weights: Weights = new Map();
    const queue = [...chunks];
    const [session] = await Promise.all([
      this.prepare(config, task),
      ...Array.from({ length: DOWNLOADS_IN_PARALLEL }, async () => {
        for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
          const got = await this.store.fetchChunk(chunk, (path, init) =>
            client.request(path, init, { what: `chunk ${chunk.name.slice(0, 12)}` }),
          );
          placeChunk(signed.manifest, weights, chunk, got.bytes);
          progress.ready++;
          progress.bytesReady += chunk.size;
          if (got.fromCache) progress.fromCache++;
          else progress.downloaded++;
          // The last chunk is announced once the cache holds exactly this version: "ready" means ready to stop too.
          if (progress.ready < progress.chunks) post({ type: 'download', progress: { ...progress } });
        }
      }),
    ]);
    checkWeights(config, weights);
    await this.store.keepOnly(new Set(chunks.map((c) => c.name)));
    post({ type: 'download', progress: { ...progress } });
    this.model = { version, cfg: config, weights: new Map(Object.keys(tensorMap).map((n) => [n, weights.get(n)!])) };
    post({
      type: 'log',
      line: `model version ${version}: ${chunks.length} chunks, ${progress.fromCache} from the cache, ${progress.downloaded} downloaded`,
    });
    return session;
  }

  private async prepare(cfg: ModelConfig, task: Task): Promise<BrowserTrainSession> {
    if (this.session?.fits(cfg, task)) return this.session;
    await this.session?.dispose();
    if (!this.backend) {
      const plan = await planDevice(cfg, task, this.choice);
      if (!plan.ok) throw new Unsupported(plan.reason);
      this.backend = plan.backend;
      post({ type: 'device', backend: plan.backend, description: plan.description });
    }
    this.session = await BrowserTrainSession.create(cfg, this.backend, task.batchSize, task.seqLen);
    return this.session;
  }

  async runTask(): Promise<void> {
    // Signed afresh for each attempt: the node honours a signed request once.
    const task = await call<Task>('/api/task', 'task', async () => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await signedTaskRequest()),
    }));
    // At once: the page abandons this task if the user stops before it is submitted.
    post({ type: 'task', taskId: task.taskId, modelVersion: task.modelVersion, steps: task.steps });
    checkCodecVersion(task);
    const session =
      this.model?.version === task.modelVersion ? await this.prepare(this.model.cfg, task) : await this.loadModel(task.modelVersion, task);
    const model = this.model!;
    const raw = (await client.bytes(`/api/task/${task.taskId}/tokens`, {}, { what: 'tokens' })).bytes;
    const tokens = new Uint16Array(raw.buffer, 0, raw.byteLength >> 1);
    let stepStart = performance.now();
    const result = await session.train(model.weights, tokens, task, {
      onStep: async ({ step, loss, tokens: n }) => {
        const took = performance.now() - stepStart;
        post({ type: 'step', step, steps: task.steps, loss, tokensPerSecond: (n / took) * 1000 });
        if (this.power < 100) await rest((took * (100 - this.power)) / this.power);
        stepStart = performance.now();
      },
    });
    if (!result) return;
    const compressed = compressTaskUpdate(model.cfg, result.update, task);
    const path = submitPath({
      wallet: this.wallet,
      taskId: task.taskId,
      modelVersion: task.modelVersion,
      loss: result.losses.at(-1)!,
      batchSize: task.batchSize,
    });
    try {
      const r = await call<SubmitAccepted>(path, 'submit', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: compressed.bytes as Uint8Array<ArrayBuffer>,
      });
      post({ type: 'log', line: `task ${task.taskId.slice(0, 10)} measured by the node: ${measuredLine(r.measured)}` });
      post({ type: 'accepted', taskId: task.taskId, reward: r.reward, quality: r.quality, contribution: r.contribution });
    } catch (err) {
      if (!(err instanceof NodeError) || err.unanswered) throw err;
      post({ type: 'rejected', taskId: task.taskId, code: err.code, message: err.message });
    }
  }

  async run(): Promise<never> {
    for (;;) {
      try {
        await this.runTask();
      } catch (err) {
        if (err instanceof NodeError && err.code === 'TOO_MANY_TASKS') {
          post({ type: 'log', line: `the node has enough open tasks from this wallet; waiting (${err.message})` });
          await rest(2000);
          continue;
        }
        throw err;
      }
    }
  }
}

class Unsupported extends Error {}

let miner: BrowserMiner | undefined;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'power') return miner?.setPower(m.power);
  if (m.type === 'task-request') {
    const waiting = signing.get(m.id);
    signing.delete(m.id);
    if ('body' in m) waiting?.resolve(m.body);
    else waiting?.reject(new Error(`could not sign the task request: ${m.error}`));
    return;
  }
  if (m.type === 'bench') {
    void benchTraining(m).then(
      (result) => post({ type: 'bench', result }),
      (err: Error) => post({ type: 'failed', message: err.message }),
    );
    return;
  }
  if (m.type !== 'start' || miner) return;
  void (async () => {
    try {
      miner = new BrowserMiner(m.wallet, m.power, m.backend, await ChunkStore.open());
      await miner.run();
    } catch (err) {
      const message =
        err instanceof NodeError && err.code === 'UNREACHABLE'
          ? `${err.message}; press Start Mining again once it is back`
          : err instanceof Error
            ? err.message
            : String(err);
      post(err instanceof Unsupported ? { type: 'unsupported', reason: message } : { type: 'failed', message });
    }
  })();
};
post({ type: 'ready' });
