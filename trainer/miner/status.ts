/**
 * What a miner reports about itself (browser-safe types): the native miner produces them; its GUI's API
 * (node/ailo-miner/gui-server.ts) serves them as JSON and the GUI's page (wallet-ui/src/miner-gui) reads them. In the JSON,
 * amounts are decimal strings of base units and times Unix ms.
 */
import type { Provider } from '../runtime/provider-names.js';
import type { LedgerCheck } from './ledger-check.js';

/** What the miner is doing now. */
export type MinerPhase = 'starting' | 'loading-model' | 'training' | 'resting' | 'cooling' | 'submitting' | 'waiting' | 'stopped';

/** Where the miner trains: the provider (onnxruntime-node's, or `wasm`, the browser's CPU), and for cuda the device index. */
export interface MinerDevice {
  provider: Provider | 'wasm';
  deviceId?: number;
}

/** A device of onnxruntime-node (the native miner's). */
export type NativeDevice = MinerDevice & { provider: Provider };

export interface StepPoint {
  /** Unix ms. */
  at: number;
  modelVersion: number;
  taskId: string;
  step: number;
  loss: number;
  tokensPerSecond: number;
  /** The device that trained the step and the power its rest follows (as set when the step ended). */
  device: string;
  power: number;
}

/** An NVIDIA GPU's health (NVML, through nvidia-smi); fields nvidia-smi reports as unavailable are absent. */
export interface GpuHealth {
  index: number;
  name: string;
  temperatureC: number;
  powerW?: number;
  memoryUsedMiB?: number;
  memoryTotalMiB?: number;
}

export interface MinerStatus {
  phase: MinerPhase;
  /** The training GPU's health, read every few seconds while training (NVIDIA GPUs only). */
  gpu?: GpuHealth;
  /** The device the current task trains on (a device change applies from the next task); null until a platform that chooses has chosen. */
  device: MinerDevice | null;
  power: number;
  tasks: number;
  version: number | null;
  step: number;
  steps: number;
  loss: number | null;
  tokensPerSecond: number;
  accepted: number;
  rejected: number;
  earned: bigint;
}

export interface SubmissionRecord {
  taskId: string;
  modelVersion: number;
  contribution: string;
  reward: bigint;
  quality: number;
  /** Whether the contribution is in a block with this miner, reward and task (`ledger-check.ts`). */
  ledger: LedgerCheck;
}

/** A model version's download: chunks and bytes ready, and how many came from the cache. */
export interface DownloadProgress {
  version: number;
  chunks: number;
  ready: number;
  fromCache: number;
  downloaded: number;
  bytesTotal: number;
  bytesReady: number;
}

export type LogLevel = 'info' | 'warn' | 'error';

/** One line of the miner's log. */
export interface LogEntry {
  /** Unix ms. */
  at: number;
  level: LogLevel;
  text: string;
}

/** The GUI's device and power settings. */
export interface GuiSettings {
  power: number;
  /** Train on the CPU even though a GPU is available. */
  useCpu: boolean;
  /** The chosen GPU's id (`cuda:0`, `webgpu`), or null where the machine has none. */
  gpu: string | null;
}

/** PUT /api/miner/settings: the settings to change. */
export interface SettingsChange {
  power?: number;
  useCpu?: boolean;
  gpu?: string;
}

/** The node's open round, as the GUI shows it. */
export interface RoundView {
  version: number;
  accepted: number;
  roundSize: number;
  deadline: number;
}

/** A submission the node accepted, in JSON; `ledger` says whether its contribution is in a block, `ledgerDetail` what the ledger answered. */
export type SubmissionView = Omit<SubmissionRecord, 'reward' | 'ledger'> & {
  reward: string;
  ledger: LedgerCheck['status'];
  ledgerDetail: string;
};

/** GET /api/miner/state and the `state` events of GET /api/miner/events. */
export interface MinerStateView {
  status: Omit<MinerStatus, 'device' | 'earned'> & { device: string; deviceLabel: string; earned: string };
  settings: GuiSettings & { nextDevice: string; nextDeviceLabel: string; pending: boolean };
  gpus: { id: string; label: string }[];
  powerRange: { min: number; max: number };
  totals: { tasks: number; accepted: number; rejected: number; earned: string; tokens: number; rounds: number; confirmed: number };
  submissions: SubmissionView[];
  rejections: { taskId: string; code: string; message: string }[];
  round: RoundView | null;
  roundError: string | null;
  /** Only in the first state of a connection: later `state` events and settings answers leave them out (points and log lines come as their own events). */
  history?: StepPoint[];
  logs?: LogEntry[];
  about: {
    version: string;
    node: string;
    wallet: string;
    cache: string;
    startedAt: number;
    runtime: string;
    links: { label: string; href: string }[];
  };
}
