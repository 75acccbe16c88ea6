/** Browser training speed for the benchmark: the miner's own training session on random weights and tokens. */
import { initWeights } from '../../../trainer/model/weights.js';
import { trainTask } from '../../../trainer/federated/train-task.js';
import { openBrowserSession } from './browser-trainer.js';
import type { BrowserBenchResult, PageToWorker } from './protocol.js';

export async function benchTraining(m: Extract<PageToWorker, { type: 'bench' }>): Promise<BrowserBenchResult> {
  const t0 = performance.now();
  const session = await openBrowserSession(m.cfg, m.backend, m.batch, m.seq);
  const created = performance.now();
  const total = m.warmup + m.steps;
  let x = 7;
  const tokens = Uint16Array.from(
    { length: total * m.batch * (m.seq + 1) },
    () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % m.cfg.vocab_size,
  );
  let firstStepEnd = created;
  let measuredFrom = created;
  await trainTask(
    session,
    initWeights(m.cfg, 1),
    tokens,
    { steps: total, batchSize: m.batch, seqLen: m.seq, lr: 1e-3 },
    {
      onStep: ({ step }) => {
        if (step === 1) firstStepEnd = performance.now();
        if (step === m.warmup) measuredFrom = performance.now();
      },
    },
  );
  // The measured span ends after the final weights are read back, as a miner's round does.
  const end = performance.now();
  await session.dispose();
  const secs = (end - measuredFrom) / 1000;
  return {
    backend: m.backend,
    tokensPerSecond: (m.steps * m.batch * m.seq) / secs,
    msPerStep: (secs * 1000) / m.steps,
    warmupMs: measuredFrom - t0,
    createMs: created - t0,
    firstStepMs: firstStepEnd - created,
  };
}
