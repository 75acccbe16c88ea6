/**
 * The browser miner, in a module worker so the page stays responsive: the one miner loop (`MinerLoop`, the native
 * miner's) with the browser's platform parts: onnxruntime-web sessions on the backend this device can train on, and
 * the weight chunks in IndexedDB. The loop's events become messages to the page. The page stops it by terminating
 * it. Each task request is signed by the page, which holds the wallet's key; the key never comes to the worker.
 */
import type { ModelConfig } from '../../../trainer/model/config.js';
import { MinerLoop, type MinerPlatform } from '../../../trainer/miner/miner-loop.js';
import type { TrainSession } from '../../../trainer/runtime/train-session.js';
import { NodeError } from '../../../protocol/errors.js';
import type { SignedTaskRequestBody } from '../../../protocol/federation.js';
import { openBrowserSession } from './browser-trainer.js';
import { benchTraining } from './bench-training.js';
import { ChunkStore } from './chunk-store.js';
import { planDevice } from './device-check.js';
import type { BackendChoice, MiningBackend, PageToWorker, WorkerToPage } from './protocol.js';

const scope = self as unknown as { postMessage(m: WorkerToPage): void; onmessage: ((e: MessageEvent<PageToWorker>) => void) | null };
const post = (m: WorkerToPage): void => scope.postMessage(m);

/** Signatures asked of the page and not yet answered, by id. */
const signing = new Map<number, { resolve: (body: SignedTaskRequestBody) => void; reject: (err: Error) => void }>();
let lastSigningId = 0;

/** A task request to `coordinator` signed by the page (with the logged-in wallet's key): fresh time and nonce on every call. */
function signedTaskRequest(coordinator: string): Promise<SignedTaskRequestBody> {
  const id = ++lastSigningId;
  return new Promise((resolve, reject) => {
    signing.set(id, { resolve, reject });
    post({ type: 'sign-task-request', id, coordinator });
  });
}

class Unsupported extends Error {}

/** The browser's platform parts; the backend is chosen at the first task (its shape decides what fits). */
function browserPlatform(store: ChunkStore, choice: BackendChoice): MinerPlatform {
  let backend: MiningBackend | undefined;
  return {
    chunks: store,
    openSession: async (cfg: ModelConfig, shape): Promise<TrainSession> => {
      if (!backend) {
        const plan = await planDevice(cfg, shape, choice);
        if (!plan.ok) throw new Unsupported(plan.reason);
        backend = plan.backend;
        post({ type: 'device', backend: plan.backend, description: plan.description });
      }
      return openBrowserSession(cfg, backend, shape.batchSize, shape.seqLen);
    },
  };
}

let miner: MinerLoop | undefined;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'power') return miner?.setPower(Math.min(100, Math.max(1, m.power)));
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
      miner = new MinerLoop({
        wallet: m.wallet,
        signTaskRequest: signedTaskRequest,
        // The node that serves this page.
        nodeUrl: self.location.origin,
        platform: browserPlatform(await ChunkStore.open(), m.backend),
        power: m.power,
        log: (line) => post({ type: 'log', line }),
        onDownload: (progress) => post({ type: 'download', progress }),
        onTask: (task) =>
          post({ type: 'task', taskId: task.taskId, modelVersion: task.modelVersion, steps: task.steps, node: miner!.client.baseUrl }),
        onTaskEnd: (taskId) => post({ type: 'task-end', taskId }),
        onStep: (p) => post({ type: 'step', step: p.step, steps: miner!.status.steps, loss: p.loss, tokensPerSecond: p.tokensPerSecond }),
        onOutcome: (o) =>
          post(
            'accepted' in o
              ? {
                  type: 'accepted',
                  taskId: o.accepted.taskId,
                  reward: o.accepted.reward.toString(),
                  quality: o.accepted.quality,
                  contribution: o.accepted.contribution,
                }
              : { type: 'rejected', ...o.rejected },
          ),
        onLedger: (r) => post({ type: 'ledger', taskId: r.taskId, ledger: r.ledger }),
      });
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
