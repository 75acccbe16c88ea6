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
  /** Given back while busy: if the submission being verified does not close the task, it is abandoned, not reopened. */
  givenBack?: boolean;
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
   * Gives a task back so that it holds none of its wallet's slots, and can never be submitted. Idempotent (a DELETE,
   * RFC 9110 §9.2.2): a task that already holds no slot (used, refused, abandoned, or past its deadline) is left as it
   * is and returned, since a stopping miner cannot know whether its submission got in first; an expired open task is
   * marked abandoned. A task whose submission is being verified is marked `givenBack`: it is abandoned if that
   * submission does not close it. Throws UNKNOWN_TASK, or TASK_NOT_YOURS for another wallet's task (changing nothing).
   */
  abandon(id: Hex, wallet: Address): TrainingTask {
    const task = this.tasks.get(id);
    if (!task) throw federationError('UNKNOWN_TASK', `no task ${id}`);
    if (task.wallet !== wallet) throw federationError('TASK_NOT_YOURS', `task ${id} was given to another wallet`);
    if (task.state === 'open') task.state = 'abandoned';
    else if (task.state === 'busy') task.givenBack = true;
    return task;
  }

  /** Ends a verification that did not close `task`: open again, or abandoned if its miner gave it back meanwhile. */
  release(task: TrainingTask): void {
    if (task.state === 'busy') task.state = task.givenBack ? 'abandoned' : 'open';
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
