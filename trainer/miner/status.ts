/**
 * What a miner reports about itself (browser-safe types): the native miner produces them, its GUI page and the
 * wallet's mining panel read them.
 */
import type { Provider } from '../runtime/provider-names.js';

/** What the miner is doing now. */
export type MinerPhase = 'starting' | 'loading-model' | 'training' | 'resting' | 'submitting' | 'waiting' | 'stopped';

/** Where the miner trains: the provider, and for cuda the device index. */
export interface MinerDevice {
  provider: Provider;
  deviceId?: number;
}

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

export interface MinerStatus {
  phase: MinerPhase;
  /** The device the current task trains on (a device change applies from the next task). */
  device: MinerDevice;
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
  /** confirmed: on the ledger with this miner and reward; pending: in the node's pool; missing: neither. */
  ledger: 'unchecked' | 'confirmed' | 'pending' | 'missing' | 'mismatch';
}
