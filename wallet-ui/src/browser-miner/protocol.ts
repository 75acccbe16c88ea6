/** Messages between the dashboard and the mining worker (structured-clone safe: no bigint in the payloads' types). */
import type { SignedTaskRequestBody } from '../../../protocol/federation.js';
import type { ModelConfig } from '../../../trainer/model/config.js';
import type { LedgerCheck } from '../../../trainer/miner/ledger-check.js';
import type { DownloadProgress } from '../../../trainer/miner/status.js';

export type { DownloadProgress };

export type MiningBackend = 'webgpu' | 'wasm';
export type BackendChoice = 'auto' | MiningBackend;

export type PageToWorker =
  | { type: 'start'; wallet: string; power: number; backend: BackendChoice }
  | { type: 'power'; power: number }
  /** The answer to the worker's 'sign-task-request' of the same id: the signed body, or why the page could not sign. */
  | { type: 'task-request'; id: number; body: SignedTaskRequestBody }
  | { type: 'task-request'; id: number; error: string }
  /** bench/browser.bench.ts: training speed on random weights and tokens, no node involved. */
  | { type: 'bench'; backend: MiningBackend; cfg: ModelConfig; batch: number; seq: number; warmup: number; steps: number };

export interface BrowserBenchResult {
  backend: MiningBackend;
  tokensPerSecond: number;
  msPerStep: number;
  /** Session creation plus the warm-up steps (shader and kernel compilation). */
  warmupMs: number;
  /** Loading the runtime, building the graph and creating the session. */
  createMs: number;
  /** The first step alone (on WebGPU most of it compiles shaders). */
  firstStepMs: number;
}

export type WorkerToPage =
  /** Sent once the worker's modules are evaluated: a message posted earlier could reach it before it listens. */
  | { type: 'ready' }
  /** Before each POST /api/task: the wallet's key stays in the page, which signs the request and answers 'task-request'. */
  | { type: 'sign-task-request'; id: number; coordinator: string }
  | { type: 'device'; backend: MiningBackend; description: string }
  | { type: 'unsupported'; reason: string }
  | { type: 'download'; progress: DownloadProgress }
  /** A task begun, and the node that issued it (another coordinator than the page's once the miner moved on). */
  | { type: 'task'; taskId: string; modelVersion: number; steps: number; node: string }
  /** The task no longer holds a slot of the wallet's (accepted, closed by a refusal, or given back by the worker's loop). */
  | { type: 'task-end'; taskId: string }
  | { type: 'step'; step: number; steps: number; loss: number; tokensPerSecond: number }
  | { type: 'accepted'; taskId: string; reward: string; quality: number; contribution: string }
  | { type: 'rejected'; taskId: string; code: string; message: string }
  /** An accepted submission's ledger check changed (the miner loop follows each one until it is in a block). */
  | { type: 'ledger'; taskId: string; ledger: LedgerCheck }
  | { type: 'log'; line: string }
  | { type: 'failed'; message: string }
  | { type: 'bench'; result: BrowserBenchResult };
