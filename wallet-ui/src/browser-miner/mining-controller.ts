/**
 * The browser miner's state for the whole tab: it owns the worker, so mining goes on while the user moves between
 * pages, and it stops with the session. It signs the worker's task requests with the signer it was started with (the
 * wallet's key stays in the page), gives back the task a stopped worker leaves open (the worker's loop gives back the
 * ones it leaves open itself), and shows the ledger check of every accepted submission (the worker's loop checks;
 * after a stop, the page finishes the checks still open with the same function). Elements read `state` and listen
 * for `change`.
 */
import { formatAlc } from '../../../protocol/amount.js';
import { NodeClient } from '../../../protocol/client.js';
import { settled, watchContribution, type LedgerCheck } from '../../../trainer/miner/ledger-check.js';
import { abandonTask } from '../../../trainer/miner/miner-loop.js';
import type { BackendChoice, DownloadProgress, PageToWorker, WorkerToPage } from './protocol.js';
import type { TaskRequestSigner } from './task-signer.js';

const HISTORY = 120;
const LOG_LINES = 200;

export type MiningPhase = 'idle' | 'running' | 'unsupported' | 'failed';

export interface SubmissionOutcome {
  taskId: string;
  accepted: boolean;
  text: string;
  /** Accepted ones: whether the contribution is on the ledger with this wallet, reward and task. */
  ledger?: LedgerCheck;
  /** Accepted ones: what the node promised (the contribution's hash and the reward in base units). */
  contribution?: string;
  reward?: string;
}

export interface MiningState {
  phase: MiningPhase;
  wallet: string | undefined;
  backend: BackendChoice;
  power: number;
  device: string | undefined;
  problem: string | undefined;
  download: DownloadProgress | undefined;
  step: { step: number; steps: number; loss: number; tokensPerSecond: number } | undefined;
  losses: number[];
  speeds: number[];
  outcomes: SubmissionOutcome[];
  earned: bigint;
  log: string[];
}

export class MiningController extends EventTarget {
  state: MiningState = {
    phase: 'idle',
    wallet: undefined,
    backend: 'auto',
    power: 80,
    device: undefined,
    problem: undefined,
    download: undefined,
    step: undefined,
    losses: [],
    speeds: [],
    outcomes: [],
    earned: 0n,
    log: [],
  };
  private worker: Worker | undefined;
  /** The task the worker holds and has not submitted: given back to the node if the worker stops. */
  private openTask: { taskId: string; wallet: string; node: string } | undefined;

  private update(patch: Partial<MiningState>): void {
    this.state = { ...this.state, ...patch };
    this.dispatchEvent(new Event('change'));
  }

  /** Mines for `wallet`; `sign` signs each of its task requests (with that wallet's key, held by the page). */
  start(wallet: string, sign: TaskRequestSigner): void {
    this.stop();
    if (wallet !== this.state.wallet) this.update({ losses: [], speeds: [], outcomes: [], earned: 0n, log: [] });
    this.update({ phase: 'running', wallet, device: undefined, problem: undefined, download: undefined, step: undefined });
    const worker = new Worker(new URL('./mining-worker.ts', import.meta.url), { type: 'module', name: 'ailo-miner' });
    worker.onmessage = (e: MessageEvent<WorkerToPage>) => {
      if (e.data.type === 'ready')
        worker.postMessage({ type: 'start', wallet, power: this.state.power, backend: this.state.backend } satisfies PageToWorker);
      else if (e.data.type === 'sign-task-request') this.signFor(worker, e.data.id, e.data.coordinator, sign);
      else this.onWorker(e.data);
    };
    worker.onerror = (e) => this.fail(`the mining worker crashed: ${e.message || 'unknown error'}`);
    this.worker = worker;
  }

  /** Immediate: the worker is terminated mid-step, and the task it held is abandoned so it frees its slot on the node. */
  stop(): void {
    const stopped = this.worker !== undefined;
    this.worker?.terminate();
    this.worker = undefined;
    if (this.openTask) this.abandon(this.openTask);
    if (stopped) this.finishLedgerChecks();
    if (this.state.phase === 'running') {
      // A download cut short is not 'loading' any more: the chunks it got stay cached for the next start.
      const d = this.state.download;
      this.update({ phase: 'idle', download: d && d.ready < d.chunks ? undefined : d });
      this.addLog(
        d && d.ready < d.chunks ? `stopped during the model download (${d.ready} of ${d.chunks} chunks kept in this browser)` : 'stopped',
      );
    }
  }

  setPower(power: number): void {
    this.update({ power });
    this.worker?.postMessage({ type: 'power', power } satisfies PageToWorker);
  }

  setBackend(backend: BackendChoice): void {
    this.update({ backend });
  }

  private fail(message: string, phase: MiningPhase = 'failed'): void {
    this.stop();
    this.update({ phase, problem: message });
    this.addLog(message);
  }

  private signFor(worker: Worker, id: number, coordinator: string, sign: TaskRequestSigner): void {
    void sign(coordinator).then(
      (body) => worker.postMessage({ type: 'task-request', id, body } satisfies PageToWorker),
      (err: Error) => worker.postMessage({ type: 'task-request', id, error: err.message } satisfies PageToWorker),
    );
  }

  /** Gives the task back (DELETE /api/task/:id, keepalive: it still goes out when the page is closing). */
  private abandon(task: { taskId: string; wallet: string; node: string }): void {
    if (this.openTask?.taskId === task.taskId) this.openTask = undefined;
    // At the node that issued it: the page's own, or the coordinator the miner moved on to.
    void abandonTask(new NodeClient(task.node === globalThis.location?.origin ? '' : task.node), task.wallet, task.taskId).then((said) =>
      this.addLog(`task ${task.taskId.slice(0, 10)} ${said}`),
    );
  }

  /** The ledger checks the terminated worker left open, finished here with the loop's own check. */
  private finishLedgerChecks(): void {
    const wallet = this.state.wallet;
    if (!wallet) return;
    for (const o of this.state.outcomes) {
      if (!o.accepted || !o.contribution || !o.reward || (o.ledger && settled(o.ledger))) continue;
      const expected = { contribution: o.contribution, taskId: o.taskId, wallet, reward: o.reward };
      void watchContribution(expected, { client: new NodeClient(''), onChange: (c) => this.setLedger(o.taskId, c) });
    }
  }

  private setLedger(taskId: string, ledger: LedgerCheck): void {
    this.update({ outcomes: this.state.outcomes.map((o) => (o.taskId === taskId && o.accepted ? { ...o, ledger } : o)) });
  }

  private addLog(line: string): void {
    this.update({ log: [...this.state.log, `${new Date().toLocaleTimeString()} ${line}`].slice(-LOG_LINES) });
  }

  private onWorker(m: WorkerToPage): void {
    const s = this.state;
    switch (m.type) {
      case 'device':
        this.update({ device: m.description });
        this.addLog(`training with ${m.description}`);
        break;
      case 'unsupported':
        this.fail(m.reason, 'unsupported');
        break;
      case 'failed':
        this.fail(m.message);
        break;
      case 'download':
        this.update({ download: m.progress });
        break;
      case 'task':
        if (s.wallet) this.openTask = { taskId: m.taskId, wallet: s.wallet, node: m.node };
        this.addLog(`task ${m.taskId.slice(0, 10)}: model v${m.modelVersion}, ${m.steps} steps`);
        break;
      case 'step':
        this.update({ step: m, losses: [...s.losses, m.loss].slice(-HISTORY), speeds: [...s.speeds, m.tokensPerSecond].slice(-HISTORY) });
        break;
      case 'accepted': {
        if (this.openTask?.taskId === m.taskId) this.openTask = undefined;
        const reward = BigInt(m.reward);
        const text = `accepted, quality ${m.quality / 1000}x, ${formatAlc(reward)} ALC`;
        const ledger: LedgerCheck = { status: 'checking', detail: 'looking for the contribution on the ledger' };
        const outcome = { taskId: m.taskId, accepted: true, text, ledger, contribution: m.contribution, reward: m.reward };
        this.update({ earned: s.earned + reward, outcomes: [outcome, ...s.outcomes] });
        break;
      }
      case 'ledger':
        this.setLedger(m.taskId, m.ledger);
        break;
      case 'task-end':
        if (this.openTask?.taskId === m.taskId) this.openTask = undefined;
        break;
      case 'rejected': {
        const text = `rejected: ${m.code}: ${m.message}`;
        this.update({ outcomes: [{ taskId: m.taskId, accepted: false, text }, ...s.outcomes] });
        break;
      }
      case 'log':
        this.addLog(m.line);
        break;
      case 'ready':
      case 'bench':
      case 'sign-task-request':
        break;
    }
  }
}

export const miningController = new MiningController();
// Closing or leaving the tab ends the worker; the task it held is abandoned on the way out.
globalThis.addEventListener?.('pagehide', () => miningController.stop());
