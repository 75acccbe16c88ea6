/**
 * Training tasks a coordinator handed out: each is single-use, tied to the wallet that asked for it, and
 * expires at its deadline, unless its miner abandons it first (a miner that stops mid-task gives the slot back).
 * Kept in memory; after a restart miners simply ask for new ones.
 */
import { randomBytes } from 'node:crypto';
import type { Address } from '../../protocol/address.js';
import { toHex, type Hex } from '../../protocol/bytes.js';
import { federationError } from './errors.js';

export interface TrainingTask {
  id: Hex;
  wallet: Address;
  modelVersion: number;
  /** Shard file name and sha256 (lowercase hex), and the token range the miner trains on. */
  shardName: string;
  shardDigest: string;
  offset: number;
  length: number;
  batchSize: number;
  seqLen: number;
  steps: number;
  lr: number;
  issuedAt: number;
  deadline: number;
  /** Bound on every value of the update, and on how many values it may carry. */
  maxAbs: number;
  density: number;
  maxValues: number;
  maxBytes: number;
  /**
   * busy: a submission is being verified; used: one was accepted; refused: one was scored and refused (one scored
   * try per task); abandoned: its miner gave it up.
   */
  state: 'open' | 'busy' | 'used' | 'refused' | 'abandoned';
}

export class TaskBook {
  private readonly tasks = new Map<Hex, TrainingTask>();

  constructor(
    private readonly perWallet: number,
    private readonly now: () => number = Date.now,
  ) {}

  issue(fields: Omit<TrainingTask, 'id' | 'state' | 'issuedAt'>): TrainingTask {
    this.prune();
    const now = this.now();
    // Expired, used and abandoned tasks hold no slot (an expired one stays listed a while for its error message).
    const open = [...this.tasks.values()].filter(
      (t) => t.wallet === fields.wallet && (t.state === 'busy' || (t.state === 'open' && now <= t.deadline)),
    ).length;
    if (open >= this.perWallet) {
      throw federationError(
        'TOO_MANY_TASKS',
        `wallet ${fields.wallet} already holds ${open} open tasks; submit or abandon them (DELETE /api/task/:id), or let them expire first`,
      );
    }
    const task: TrainingTask = { ...fields, id: toHex(randomBytes(32)), state: 'open', issuedAt: this.now() };
    this.tasks.set(task.id, task);
    return task;
  }

  get(id: Hex): TrainingTask | undefined {
    return this.tasks.get(id);
  }

  /** The task `wallet` may submit for now, or the error that says why not. */
  claimable(id: Hex, wallet: Address): TrainingTask {
    const task = this.tasks.get(id);
    if (!task) throw federationError('UNKNOWN_TASK', `no task ${id}; ask for one with POST /api/task`);
    if (task.wallet !== wallet) throw federationError('TASK_NOT_YOURS', `task ${id} was given to another wallet`);
    if (task.state === 'used') throw federationError('TASK_USED', `task ${id} already has an accepted submission`);
    if (task.state === 'busy') throw federationError('TASK_BUSY', `a submission for task ${id} is being verified`);
    if (task.state === 'refused')
      throw federationError('TASK_REFUSED', `task ${id} already had its one scored submission refused; ask for a new task`);
    if (task.state === 'abandoned') throw federationError('TASK_ABANDONED', `task ${id} was abandoned by its miner; ask for a new one`);
    if (this.now() > task.deadline)
      throw federationError('TASK_EXPIRED', `task ${id} expired at ${new Date(task.deadline).toISOString()}; ask for a new one`);
    return task;
  }

  /**
   * Gives an open task back: it frees its wallet's slot and can never be submitted. Only an open, unexpired task of
   * `wallet` can be abandoned; anything else throws the error that says why, and changes nothing.
   */
  abandon(id: Hex, wallet: Address): TrainingTask {
    const task = this.claimable(id, wallet);
    task.state = 'abandoned';
    return task;
  }

  /** Tasks on `version` that may still be submitted (open and unexpired) or are being verified. */
  live(version: number): TrainingTask[] {
    const now = this.now();
    return [...this.tasks.values()].filter(
      (t) => t.modelVersion === version && (t.state === 'busy' || (t.state === 'open' && now <= t.deadline)),
    );
  }

  open(): number {
    return [...this.tasks.values()].filter((t) => t.state === 'open' && t.deadline >= this.now()).length;
  }

  /** Forgets tasks well past their deadline (used ones stay a while so replays get TASK_USED, not UNKNOWN_TASK). */
  private prune(): void {
    const cutoff = this.now() - 60 * 60_000;
    for (const [id, t] of this.tasks) if (t.deadline < cutoff) this.tasks.delete(id);
  }
}
