/** Which tokens each step of a task trains on. Browser-safe: the native and the browser miner share it. */

export interface LocalTrainingTask {
  steps: number;
  batchSize: number;
  seqLen: number;
  lr: number;
}

/** The token rows of step `s` of a task. */
export function stepRows(tokens: Uint16Array, task: LocalTrainingTask, s: number): number[][] {
  const width = task.seqLen + 1;
  const rows: number[][] = [];
  for (let r = 0; r < task.batchSize; r++) {
    const start = (s * task.batchSize + r) * width;
    rows.push(Array.from(tokens.subarray(start, start + width)));
  }
  return rows;
}

export function taskTokenCount(task: LocalTrainingTask): number {
  return task.steps * task.batchSize * (task.seqLen + 1);
}


/**
 * Refusal codes after which the coordinator holds the task closed (submitted, scored and refused, expired, given
 * back, not there, not this wallet's): a miner gives back a task refused with any other code, so it frees the wallet's slot at once.
 */
export const TASK_CLOSED_CODES: ReadonlySet<string> = new Set([
  'TASK_USED', 'TASK_EXPIRED', 'TASK_ABANDONED', 'TASK_REFUSED', 'UNKNOWN_TASK', 'TASK_NOT_YOURS',
  // A scored refusal closes the task too (one scored try per task).
  'NO_IMPROVEMENT', 'NOT_TASK_SPECIFIC', 'TRAINED_ON_HELD_OUT', 'HURTS_HELD_OUT', 'OVERTRAINED', 'TOO_LITTLE_WORK',
]);
