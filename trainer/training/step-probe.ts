// Runs a few training steps of one config in a fresh process and prints its speed and peak memory as JSON:
// `tsx trainer/training/step-probe.ts PRESET PROVIDER BATCH SEQ STEPS [fused|layerwise] [float32|int8]`. The benchmark spawns it so each
// measurement has its own high-water mark.
import { presetConfig } from '../model/config.js';
import { initWeights } from '../model/weights.js';
import { openTrainSession } from '../runtime/model-session.js';
import { parseProvider } from '../runtime/provider.js';
import { tokenBatch } from '../runtime/tokens.js';

const [preset = 'ailo-tiny', provider = 'cpu', b = '8', t = '64', n = '5', layout = 'fused', moments = 'float32'] = process.argv.slice(2);
if (layout !== 'fused' && layout !== 'layerwise') throw new RangeError(`layout must be fused or layerwise, not ${layout}`);
if (moments !== 'float32' && moments !== 'int8') throw new RangeError(`moments must be float32 or int8, not ${moments}`);
const cfg = presetConfig(preset);
const B = Number(b),
  T = Number(t),
  steps = Number(n);
const rssBefore = process.memoryUsage().rss;
const weights = initWeights(cfg, 1);
const session = await openTrainSession(cfg, parseProvider(provider), {
  batch: B,
  seq: T,
  weights,
  layerwise: layout === 'layerwise',
  moments,
});
let x = 7;
const rows = Array.from({ length: B }, () =>
  Array.from({ length: T + 1 }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % cfg.vocab_size),
);
const batch = tokenBatch(cfg, rows);
const warmup = 2;
let t0 = 0,
  loss = 0;
for (let s = 0; s < warmup + steps; s++) {
  if (s === warmup) t0 = performance.now();
  loss = (await session.step(batch, 1e-3)).loss;
}
const secs = (performance.now() - t0) / 1000;
await session.dispose();
process.stdout.write(
  JSON.stringify({
    preset,
    provider,
    layout,
    moments,
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
