/**
 * Red team: an upstream contributor answers rows no honest span returns (NaN, Infinity, or far beyond the magnitude of
 * what it was sent), hoping the honest span after it computes garbage from them and is removed for it. The node
 * refuses such rows on arrival: the sender is removed as WRONG_OUTPUT (caught, unpaid) and nothing reaches the
 * honest contributor, which stays in the room unharmed.
 */
import { describe, expect, it } from 'vitest';
import { decodeTokens } from '../../trainer/inference/decode.js';
import { EmbedHead } from '../../trainer/inference/span-runner.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import { initWeights } from '../../trainer/model/weights.js';
import { nodeRuntime } from '../../trainer/runtime/model-session.js';
import { makeSampler } from '../../trainer/runtime/sampling.js';
import { InferenceRoom, Member } from './room.js';
import { inProcessMember, inProcessRoom } from '../test/inference.js';

const cfg: ModelConfig = { vocab_size: 101, n_positions: 32, n_embd: 32, n_layer: 4, n_head: 4, n_inner: 64, layer_norm_epsilon: 1e-5 };
const weights = initWeights(cfg, 5);
const rt = nodeRuntime('cpu');
const wal = (n: number): string => `0x${n.toString(16).padStart(40, '0')}`;
const req = (n: number): `0x${string}` => `0x${n.toString(16).padStart(64, '0')}`;

const member = (
  id: string,
  wallet: string,
  maxLayers: number,
  room: () => InferenceRoom,
  alter?: (o: Float32Array) => Float32Array,
): Member => inProcessMember({ id, wallet, maxLayers, cfg, weights, room, alter });

const newRoom = (log: string[]): InferenceRoom =>
  inProcessRoom(cfg, weights, { checkRate: 1, reassignWaitMs: 300, random: () => 0.5 }, log);

for (const [name, alter] of [
  ['NaN', (o: Float32Array) => o.fill(NaN)],
  ['Infinity', (o: Float32Array) => o.fill(Infinity)],
  ['huge finite 1e30', (o: Float32Array) => o.fill(1e30)],
] as const) {
  describe(`red team: an upstream contributor answers ${name}`, () => {
    it('is removed as WRONG_OUTPUT on arrival; the honest contributor after it is untouched, never blamed', async () => {
      const log: string[] = [];
      let room: InferenceRoom = newRoom(log);
      const x = member('x', wal(0xbb), 2, () => room, alter);
      const h = member('h', wal(0xaa), 2, () => room);
      room.join(x);
      room.join(h);
      await room.waitForChain(10_000);
      expect(x.span).toEqual({ start: 0, end: 2 });
      const embedHead = await EmbedHead.open(rt, cfg, weights);
      const pipeline = room.pipeline(req(1), () => {});
      const sample = makeSampler({ temperature: 0, topK: 0, seed: 1 });
      // No one takes x's layers: the request ends ROOM_LOST once x is removed.
      await expect(
        (async () => {
          for await (const t of decodeTokens({ cfg, embedHead, pipeline, prompt: [5, 17, 42], maxTokens: 3, sample })) void t;
        })(),
      ).rejects.toThrow(/no contributor took over layer 0/);
      expect([x.caught, x.left]).toEqual([true, true]);
      expect(log.some((l) => /check failed: x .*contributor x answered a value of magnitude/.test(l))).toBe(true);
      // The honest contributor never received the rows, is not blamed, and still holds its span.
      expect(pipeline.servers()).not.toContain(h);
      expect([h.caught, h.left, h.ready]).toEqual([false, false, true]);
      // The failed request settles as any: the caught sender is unpaid, the honest one served nothing of it.
      const { owed, paid } = await room.settle(pipeline, req(1), wal(0x01), 8);
      expect([owed, paid]).toEqual([[], 0]);
      room.close();
      await embedHead.dispose();
    }, 30_000);
  });
}
