/**
 * The browser miner's state for the whole tab: it owns the worker, so mining goes on while the user moves between
 * pages, and it stops with the session. Elements read `state` and listen for `change`.
 */
import { formatAlc } from '../wallet/amount.js';
import type { BackendChoice, DownloadProgress, PageToWorker, WorkerToPage } from './protocol.js';

const HISTORY = 120;
const LOG_LINES = 200;

export type MiningPhase = 'idle' | 'running' | 'unsupported' | 'failed';

export interface SubmissionOutcome {
  taskId: string;
  accepted: boolean;
  text: string;
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
    phase: 'idle', wallet: undefined, backend: 'auto', power: 80, device: undefined, problem: undefined, download: undefined,
    step: undefined, losses: [], speeds: [], outcomes: [], earned: 0n, log: [],
  };
  private worker: Worker | undefined;

  private update(patch: Partial<MiningState>): void {
    this.state = { ...this.state, ...patch };
    this.dispatchEvent(new Event('change'));
  }

  start(wallet: string): void {
    this.stop();
    if (wallet !== this.state.wallet) this.update({ losses: [], speeds: [], outcomes: [], earned: 0n, log: [] });
    this.update({ phase: 'running', wallet, device: undefined, problem: undefined, download: undefined, step: undefined });
    const worker = new Worker(new URL('./mining-worker.ts', import.meta.url), { type: 'module', name: 'ailo-miner' });
    worker.onmessage = (e: MessageEvent<WorkerToPage>) => {
      if (e.data.type === 'ready') worker.postMessage({ type: 'start', wallet, power: this.state.power, backend: this.state.backend } satisfies PageToWorker);
      else this.onWorker(e.data);
    };
    worker.onerror = (e) => this.fail(`the mining worker crashed: ${e.message || 'unknown error'}`);
    this.worker = worker;
  }

  /** Immediate: the worker is terminated mid-step; an unfinished task is simply never submitted. */
  stop(): void {
    this.worker?.terminate();
    this.worker = undefined;
    if (this.state.phase === 'running') {
      this.update({ phase: 'idle' });
      this.addLog('stopped');
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

  private addLog(line: string): void {
    this.update({ log: [...this.state.log, `${new Date().toLocaleTimeString()} ${line}`].slice(-LOG_LINES) });
  }

  private onWorker(m: WorkerToPage): void {
    const s = this.state;
    switch (m.type) {
      case 'device': this.update({ device: m.description }); this.addLog(`training with ${m.description}`); break;
      case 'unsupported': this.fail(m.reason, 'unsupported'); break;
      case 'failed': this.fail(m.message); break;
      case 'download': this.update({ download: m.progress }); break;
      case 'task': this.addLog(`task ${m.taskId.slice(0, 10)}: model v${m.modelVersion}, ${m.steps} steps`); break;
      case 'step':
        this.update({ step: m, losses: [...s.losses, m.loss].slice(-HISTORY), speeds: [...s.speeds, m.tokensPerSecond].slice(-HISTORY) });
        break;
      case 'accepted': {
        const reward = BigInt(m.reward);
        const text = `accepted, quality ${m.quality / 1000}x, ${formatAlc(reward)} ALC`;
        this.update({ earned: s.earned + reward, outcomes: [{ taskId: m.taskId, accepted: true, text }, ...s.outcomes] });
        this.addLog(`task ${m.taskId.slice(0, 10)} ${text} (contribution ${m.contribution})`);
        break;
      }
      case 'rejected': {
        const text = `rejected: ${m.code}: ${m.message}`;
        this.update({ outcomes: [{ taskId: m.taskId, accepted: false, text }, ...s.outcomes] });
        this.addLog(`task ${m.taskId.slice(0, 10)} ${text}`);
        break;
      }
      case 'log': this.addLog(m.line); break;
      case 'ready': case 'bench': break;
    }
  }
}

export const miningController = new MiningController();
