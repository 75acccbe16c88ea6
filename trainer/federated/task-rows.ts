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
