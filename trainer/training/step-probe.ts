// Trains one task of a few steps of one config in a fresh process and prints its speed and peak memory as JSON:
// `tsx trainer/training/step-probe.ts PRESET PROVIDER BATCH SEQ STEPS [fused|loop|step|layerwise] [float32|int8] [fp32|fp16|fp16-emulated]`. The benchmark spawns it so each
// measurement has its own high-water mark.
import { presetConfig } from '../model/config.js';
import { initWeights } from '../model/weights.js';
import { nodeRuntime } from '../runtime/model-session.js';
import { TrainSession } from '../runtime/train-session.js';
import { parseProvider } from '../runtime/provider.js';
import { trainTask } from '../federated/train-task.js';

const [preset = 'ailo-tiny', provider = 'cpu', b = '8', t = '64', n = '5', layout = 'fused', moments = 'float32', precision = 'fp32'] =
  process.argv.slice(2);
if (!['fused', 'loop', 'step', 'layerwise'].includes(layout))
  throw new RangeError(
    `layout must be fused (the provider's default), loop (fused, a task's steps in one run), step (fused, a step a run) or layerwise, not ${layout}`,
  );
if (moments !== 'float32' && moments !== 'int8') throw new RangeError(`moments must be float32 or int8, not ${moments}`);
if (precision !== 'fp32' && precision !== 'fp16' && precision !== 'fp16-emulated')
  throw new RangeError(`precision must be fp32, fp16 or fp16-emulated, not ${precision}`);
const cfg = presetConfig(preset);
const B = Number(b),
  T = Number(t),
  steps = Number(n);
const rssBefore = process.memoryUsage().rss;
const weights = initWeights(cfg, 1);
const session = await TrainSession.open(nodeRuntime(parseProvider(provider)), cfg, {
  batch: B,
  seq: T,
  layerwise: layout === 'layerwise',
  // 'loop' and 'step' ask for the Loop or not; 'fused' leaves it to the provider (cuda's default).
  ...(layout === 'loop' ? { loop: true } : layout === 'step' ? { loop: false } : {}),
  moments,
  precision,
});
// Whole tasks as a miner trains them (trainTask): the start weights kept beside the session's, the steps, and the
// update taken at the end, whose memory counts in the peak. The warm-up steps are a task of their own, then the timed
// steps one more, timed by their runs (each step's `ms`: a session in a Loop, cuda's, runs them all in one, its share of
// moving the state to the device and back included), not the tasks' start and end.
const warmup = 2;
let x = 7;
const tokens = Uint16Array.from(
  { length: (warmup + steps) * B * (T + 1) },
  () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % cfg.vocab_size,
);
let ms = 0,
  loss = 0;
const task = (n: number) => ({ steps: n, batchSize: B, seqLen: T, lr: 1e-3 });
await trainTask(session, weights, tokens.subarray(0, warmup * B * (T + 1)), task(warmup));
await trainTask(session, weights, tokens.subarray(warmup * B * (T + 1)), task(steps), {
  onStep: (r) => void ((ms += r.ms), (loss = r.loss)),
});
const secs = ms / 1000;
await session.dispose();
process.stdout.write(
  JSON.stringify({
    preset,
    provider,
    layout,
    moments,
    precision,
    // After the training: a Loop that ran out of device memory went on a step a run.
    stepsPerRun: session.stepsPerRun > 1 ? steps : 1,
    // Where the Loop ran out of device memory and the session went on a step a run, why.
    loopFellBack: session.loopFellBack,
    batch: B,
    seq: T,
    steps,
    tokensPerSecond: (steps * B * T) / secs,
    msPerStep: (secs * 1000) / steps,
    loss,
    rssBefore,
    maxRss: process.resourceUsage().maxRSS * 1024,
  }) + '\n',
);
