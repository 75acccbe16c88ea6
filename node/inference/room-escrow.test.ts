/**
 * The room's escrow, in process with real onnxruntime sessions: with sampled checks, a contributor's rewards wait
 * until one of its requests is checked (drawn, forced once `maxEscrow` are waiting, or on departure); an honest one
 * is then paid for all of them, one that altered its rows loses all of them and is removed.
 */
import { describe, expect, it } from 'vitest';
import { decodeTokens } from '../../trainer/inference/decode.js';
import { EmbedHead } from '../../trainer/inference/span-runner.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import { initWeights } from '../../trainer/model/weights.js';
import { nodeRuntime } from '../../trainer/runtime/model-session.js';
import { makeSampler } from '../../trainer/runtime/sampling.js';
import type { InferenceRoom, Member, OwedReward } from './room.js';
import { inProcessMember, inProcessRoom } from '../test/inference.js';

const cfg: ModelConfig = { vocab_size: 101, n_positions: 32, n_embd: 32, n_layer: 2, n_head: 4, n_inner: 64, layer_norm_epsilon: 1e-5 };
const weights = initWeights(cfg, 5);
const rt = nodeRuntime('cpu');

/** A contributor in process, altering one value of every answer when `cheat`. */
const member = (id: string, wallet: string, cheat: boolean, room: () => InferenceRoom): Member =>
  inProcessMember({ id, wallet, maxLayers: 1, cfg, weights, room, alter: cheat ? (out) => ((out[0]! += 1), out) : undefined });

async function serve(room: InferenceRoom, request: string, embedHead: EmbedHead, feeSpans = 2): Promise<OwedReward[]> {
  const pipeline = room.pipeline(request, () => {});
  const sample = makeSampler({ temperature: 0, topK: 0, seed: 1 });
  for await (const t of decodeTokens({ cfg, embedHead, pipeline, prompt: [1, 2, 3], maxTokens: 3, sample })) void t;
  return (await room.settle(pipeline, request as `0x${string}`, '0x0000000000000000000000000000000000000001', feeSpans)).owed;
}

describe('escrow of inference rewards', () => {
  it('pays an honest contributor for every escrowed request at its check, and a cheater nothing, removing it', async () => {
    const log: string[] = [];
    const room: InferenceRoom = inProcessRoom(cfg, weights, { checkRate: 0, maxEscrow: 3, random: () => 0.5 }, log);
    const honest = member('h', '0x00000000000000000000000000000000000000aa', false, () => room);
    const cheater = member('c', '0x00000000000000000000000000000000000000bb', true, () => room);
    room.join(honest);
    room.join(cheater);
    expect(await room.waitForChain(10_000)).toBeDefined();
    const embedHead = await EmbedHead.open(rt, cfg, weights);
    const paid: OwedReward[] = [];
    for (let i = 1; i <= 2; i++) paid.push(...(await serve(room, `0x${String(i).padStart(64, '0')}`, embedHead)));
    // Two requests served, none checked: all in escrow.
    expect(paid).toEqual([]);
    expect([honest.escrow.length, cheater.escrow.length]).toEqual([2, 2]);
    // The third fills the escrow: both are checked.
    paid.push(...(await serve(room, `0x${'3'.padStart(64, '0')}`, embedHead)));
    expect(paid.map((o) => o.wallet)).toEqual([honest.wallet, honest.wallet, honest.wallet]);
    expect(paid.map((o) => o.span)).toEqual([
      { start: 0, end: 1 },
      { start: 0, end: 1 },
      { start: 0, end: 1 },
    ]);
    expect(cheater.left && cheater.caught).toBe(true);
    expect(cheater.escrow).toEqual([]);
    expect(log.some((l) => /check failed: c .* removed, 3 escrowed reward\(s\) forfeited/.test(l))).toBe(true);
    expect(room.chain()).toBeUndefined();

    // A departing honest contributor is paid its escrow once one of its requests checks out; a departing cheater is not.
    const cheater2 = member('c2', '0x00000000000000000000000000000000000000cc', true, () => room);
    room.join(cheater2);
    expect(await room.waitForChain(10_000)).toBeDefined();
    await serve(room, `0x${'4'.padStart(64, '0')}`, embedHead);
    room.leave(honest, 'closed');
    room.leave(cheater2, 'closed');
    expect((await room.settleDeparture(honest)).map((o) => o.request)).toEqual([`0x${'4'.padStart(64, '0')}`]);
    expect(await room.settleDeparture(cheater2)).toEqual([]);
    expect(cheater2.caught).toBe(true);
    await embedHead.dispose();
  }, 60_000);

  it('pays a request no more contributors than its fee bought, now or later from escrow', async () => {
    // Without checks (checkRate 0) rewards wait in escrow; a cap applied only to what is paid at once would let the
    // escrow pay the rest later. A fee of one span pays one contributor (the one holding the most layers), ever.
    const room: InferenceRoom = inProcessRoom(cfg, weights, { checkRate: 0, maxEscrow: 8, random: () => 0.5 }, []);
    const a = member('a', '0x00000000000000000000000000000000000000aa', false, () => room);
    const b = member('b', '0x00000000000000000000000000000000000000bb', false, () => room);
    room.join(a);
    room.join(b);
    expect(await room.waitForChain(10_000)).toBeDefined();
    const embedHead = await EmbedHead.open(rt, cfg, weights);
    const requests = [5, 6, 7].map((i) => `0x${String(i).padStart(64, '0')}`);
    for (const r of requests) expect(await serve(room, r, embedHead, 1)).toEqual([]);
    expect(a.escrow.length + b.escrow.length).toBe(3);
    const owed = await room.settleAll();
    expect(owed.map((o) => o.request).sort()).toEqual(requests);
    // And a fee that bought nothing (a request that never sampled a token) pays no one.
    const c = member('c', '0x00000000000000000000000000000000000000cc', false, () => room);
    const d = member('d', '0x00000000000000000000000000000000000000dd', false, () => room);
    room.join(c);
    room.join(d);
    expect(await room.waitForChain(10_000)).toBeDefined();
    expect(await serve(room, `0x${'8'.padStart(64, '0')}`, embedHead, 0)).toEqual([]);
    expect(c.escrow.length + d.escrow.length).toBe(0);
    await embedHead.dispose();
  }, 60_000);
});
