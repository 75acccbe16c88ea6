/**
 * The miner GUI's API (node/miner/gui-server.ts): amounts are decimal strings of base units, times Unix ms. Types
 * only from the miner's loop: nothing of it is bundled into the page.
 */
import type { MinerStatus, StepPoint, SubmissionRecord } from '../../../trainer/miner/status.js';

export type { MinerPhase, StepPoint } from '../../../trainer/miner/status.js';

export interface LogEntry {
  at: number;
  level: 'info' | 'warn' | 'error';
  text: string;
}

/** A submission the node accepted; `ledger` says whether its contribution is in a block. */
export type Submission = Omit<SubmissionRecord, 'reward'> & { reward: string };

export interface MinerState {
  status: Omit<MinerStatus, 'device' | 'earned'> & { device: string; deviceLabel: string; earned: string };
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

export interface SettingsChange {
  power?: number;
  useCpu?: boolean;
  gpu?: string;
}
