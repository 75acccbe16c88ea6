/** The miner GUI's API (node/miner/gui-server.ts): amounts are decimal strings of base units, times Unix ms. */

export type MinerPhase = 'starting' | 'loading-model' | 'training' | 'resting' | 'submitting' | 'waiting' | 'stopped';

export interface StepPoint {
  at: number;
  modelVersion: number;
  taskId: string;
  step: number;
  loss: number;
  tokensPerSecond: number;
  device: string;
  power: number;
}

export interface LogEntry {
  at: number;
  level: 'info' | 'warn' | 'error';
  text: string;
}

export interface Submission {
  taskId: string;
  modelVersion: number;
  contribution: string;
  reward: string;
  quality: number;
  ledger: 'unchecked' | 'confirmed' | 'pending' | 'missing' | 'mismatch';
}

export interface MinerState {
  status: {
    phase: MinerPhase;
    device: string;
    deviceLabel: string;
    power: number;
    tasks: number;
    version: number | null;
    step: number;
    steps: number;
    loss: number | null;
    tokensPerSecond: number;
    accepted: number;
    rejected: number;
    earned: string;
  };
  settings: { power: number; useCpu: boolean; gpu: string | null; nextDevice: string; nextDeviceLabel: string; pending: boolean };
  gpus: { id: string; label: string }[];
  powerRange: { min: number; max: number };
  totals: { tasks: number; accepted: number; rejected: number; earned: string; tokens: number; rounds: number; confirmed: number };
  submissions: Submission[];
  rejections: { taskId: string; code: string; message: string }[];
  round: { version: number; accepted: number; roundSize: number; deadline: number } | null;
  roundError: string | null;
  /** Only in the first state of a connection: later `state` events and settings answers leave them out (points and log lines come as their own events). */
  history?: StepPoint[];
  logs?: LogEntry[];
  about: { version: string; node: string; wallet: string; cache: string; startedAt: number; runtime: string; links: { label: string; href: string }[] };
}

export interface SettingsChange {
  power?: number;
  useCpu?: boolean;
  gpu?: string;
}
