/**
 * A coordinator compresses its recomputations off the event loop (AILO-1B: 69 s a compression, which froze the node):
 * the result is exactly the miner's `compressTaskUpdate`, the event loop runs while it is computed, and a worker's
 * failure is an error, not a hang.
 */
import { describe, expect, it } from 'vitest';
import { presetConfig, paramSpecs } from '../model/config.js';
import { compressTaskUpdate } from './task-update.js';
import { compressOffThread } from './compress-off-thread.js';

const cfg = presetConfig('ailo-small');

function update(): Map<string, Float32Array> {
  let x = 11;
  const u = new Map<string, Float32Array>();
  for (const s of paramSpecs(cfg)) {
    const a = new Float32Array(s.shape.reduce((p, q) => p * q, 1));
    for (let i = 0; i < a.length; i++) a[i] = ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 1e-3;
    u.set(s.name, a);
  }
  return u;
}

describe("a coordinator's compression off the event loop", () => {
  it('gives what compressTaskUpdate gives, while timers keep firing, and moves the arrays instead of copying them', async () => {
    const limits = { density: 0.01, maxAbs: 0.01 };
    const { sent: inline, bytes: inlineBytes } = compressTaskUpdate(cfg, update(), limits);
    const moved = update();
    const first = moved.get('wte.weight')!;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let ticksWhenDone = -1;
    const { sent, bytes } = await compressOffThread(cfg, moved, limits).then((c) => {
      ticksWhenDone = ticks;
      return c;
    });
    clearInterval(timer);
    // ailo-small takes seconds to compress: on the event loop no timer could fire before it ended.
    expect(ticksWhenDone).toBeGreaterThan(10);
    expect(first.length).toBe(0); // detached: moved to the worker
    expect(bytes).toEqual(inlineBytes);
    expect(sent.map((t) => t.name)).toEqual(inline.map((t) => t.name));
    for (let i = 0; i < sent.length; i++) {
      expect(sent[i]!.indices).toEqual(inline[i]!.indices);
      expect(sent[i]!.values).toEqual(inline[i]!.values);
      expect(sent[i]!.lowRank?.length ?? 0).toBe(inline[i]!.lowRank?.length ?? 0);
    }
  }, 120_000);

  it("rejects with the compression's error (and the next call works), and an update given twice", async () => {
    await expect(compressOffThread(cfg, update(), { density: 2, maxAbs: 0.01 })).rejects.toThrow(
      /compressing the update: density must be in \(0, 1\]/,
    );
    const again = await compressOffThread(presetConfig('ailo-tiny'), new Map([['ln_f.bias', new Float32Array(128).fill(1e-4)]]), {
      density: 0.5,
      maxAbs: 1,
    });
    expect(again.sent[0]!.name).toBe('ln_f.bias');
    // The same arrays again (moved by the first call): refused at once, not a message that never arrives.
    const once = new Map([['ln_f.bias', new Float32Array(128).fill(1e-4)]]);
    await compressOffThread(presetConfig('ailo-tiny'), once, { density: 0.5, maxAbs: 1 });
    await expect(compressOffThread(presetConfig('ailo-tiny'), once, { density: 0.5, maxAbs: 1 })).rejects.toThrow(/already moved/);
  }, 120_000);
});
