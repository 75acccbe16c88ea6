/**
 * Submissions from the outside attack on issue 11, through the node's HTTP routes:
 * - a copy sent on a stale task: a task is submittable for `maxStaleness` versions, so a task of version v, held open
 *   while two rounds close, could carry a 1-ulp copy of an update accepted on v. The copy check used to remember only
 *   the current and the previous round; it now looks back as far as a task can be stale.
 * - the "NaN bomb": an honest update plus a q8 value whose finite scale overflows float32 (127 x 3e38 = +Inf). It
 *   passed the bound check (Inf x 0 = NaN) and was paid, and the published version held non-finite weights.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeUpdate, quantizeQ8, UpdateEncoding } from '../../trainer/codec/update-codec.js';
import { paramSpecs } from '../../trainer/model/config.js';
import type { Task } from '../../protocol/federation.js';
import type { AiloNode } from '../node.js';
import { startTestNode, testNet, type TestNet } from '../test/harness.js';
import { decodeFor, scaledUpdate, trainedUpdate, ulpNudged } from './redteam/attacks.js';
import { freshWallet, PublicApi, type RedTeamWallet } from './redteam/public-api.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 1, roundMs: 600_000, maxStaleness: 2 };

describe('a copy held back on a stale task', () => {
  let net: TestNet;
  let node: AiloNode;
  let api: PublicApi;

  beforeAll(async () => {
    net = testNet(50);
    node = await startTestNode(net, undefined, { federation: FED });
    api = new PublicApi(node.url);
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  /** An honest update on `task` (trained exactly as ailo-miner trains), submitted and accepted. */
  async function honest(w: RedTeamWallet, task: Task): Promise<Uint8Array> {
    const model = (await api.weights(task.modelVersion))!;
    const made = await trainedUpdate(model.cfg, model.weights, await api.tokens(task), task);
    const out = await api.submit(w, task, made.bytes);
    expect(out.code, out.message).toBe('ACCEPTED');
    return made.bytes;
  }

  it('is refused as COPIED_UPDATE two versions later, and earns nothing', async () => {
    const miner = freshWallet();
    const attacker = freshWallet();
    const first = await api.task(miner);
    const held = await api.task(attacker); // version 0, kept open
    expect(held.modelVersion).toBe(0);
    const accepted = await honest(miner, first); // closes round 0 (roundSize 1)
    await expect.poll(() => api.currentVersion(), { timeout: 60_000 }).toBe(1);
    await honest(miner, await api.task(miner)); // closes round 1
    await expect.poll(() => api.currentVersion(), { timeout: 60_000 }).toBe(2);
    const model = (await api.weights(0))!;
    const copy = ulpNudged(decodeFor(model.cfg, accepted));
    const out = await api.submit(attacker, held, copy);
    expect(out.code, out.message).toBe('COPIED_UPDATE');
    expect(await api.balance(attacker.address)).toBe(0n);
  }, 240_000);

  it("refuses a miner's own honest update scaled up (within every bound) as UPDATE_MISMATCH, and pays nothing", async () => {
    // Paid no more than the honest update (more than a full task's gain earns no more), but it would weigh 1.5 times in
    // the round's average: the recomputation compares size as well as direction.
    const miner = freshWallet();
    const task = await api.task(miner);
    const model = (await api.weights(task.modelVersion))!;
    const made = await trainedUpdate(model.cfg, model.weights, await api.tokens(task), task);
    const out = await api.submit(miner, task, scaledUpdate(decodeFor(model.cfg, made.bytes), 1.5));
    expect(out.code, out.message).toBe('UPDATE_MISMATCH');
    expect(out.message).toMatch(/50\.\d% away from the coordinator's own recomputation/);
    expect(await api.balance(miner.address)).toBe(0n);
  }, 120_000);

  it('refuses an update with a value that overflows float32 as NON_FINITE, and pays nothing', async () => {
    const bomber = freshWallet();
    const task = await api.task(bomber);
    const model = (await api.weights(task.modelVersion))!;
    const made = await trainedUpdate(model.cfg, model.weights, await api.tokens(task), task);
    // The honest update, plus one q8 value in a position rows of seqLen tokens never reach (wpe row 100), with its
    // scale set to 3e38 after encoding: 127 x 3e38 is +Inf in float32.
    const values = Float32Array.of(0.0123);
    const wpe = {
      name: 'wpe.weight',
      numel: model.weights.get('wpe.weight')!.length,
      encoding: UpdateEncoding.Q8,
      indices: Uint32Array.of(100 * model.cfg.n_embd),
      values,
      lowRank: null,
    };
    const order = paramSpecs(model.cfg).map((spec) => spec.name);
    const update = [...decodeFor(model.cfg, made.bytes).filter((t) => t.name !== 'wpe.weight'), wpe].sort(
      (a, b) => order.indexOf(a.name) - order.indexOf(b.name),
    );
    const bytes = encodeUpdate(update);
    const scaleAt = findFloat32(bytes, quantizeQ8(values).scale);
    new DataView(bytes.buffer, bytes.byteOffset).setFloat32(scaleAt, 3e38, true);
    const out = await api.submit(bomber, task, bytes);
    expect(out.code, out.message).toBe('NON_FINITE');
    expect(await api.balance(bomber.address)).toBe(0n);
  }, 120_000);
});

/** Where the little-endian float32 `x` first lies in `bytes` (the test's own marker value). */
function findFloat32(bytes: Uint8Array, x: number): number {
  const want = new Uint8Array(Float32Array.of(x).buffer);
  for (let p = 0; p + 4 <= bytes.length; p++)
    if (bytes[p] === want[0] && bytes[p + 1] === want[1] && bytes[p + 2] === want[2] && bytes[p + 3] === want[3]) return p;
  throw new Error(`float32 ${x} is not in the encoded update`);
}

describe('a copy sent after the coordinator restarted', () => {
  let net: TestNet;
  let node: AiloNode | undefined;

  beforeAll(() => {
    net = testNet(50);
  });
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  it("is still refused: the last rounds' updates are kept on disk (a restart used to forget them, and a replay was paid)", async () => {
    node = await startTestNode(net, undefined, { federation: FED });
    let api = new PublicApi(node.url);
    const miner = freshWallet();
    const task = await api.task(miner);
    const model = (await api.weights(task.modelVersion))!;
    const made = await trainedUpdate(model.cfg, model.weights, await api.tokens(task), task);
    expect((await api.submit(miner, task, made.bytes)).code).toBe('ACCEPTED'); // closes round 0 (roundSize 1)
    await expect.poll(() => api.currentVersion(), { timeout: 60_000 }).toBe(1);
    // Once a block holds version 1, its update leaves the open round's journal for the recent rounds'.
    const dir = join(net.root, 'data', 'federation');
    await expect.poll(() => readdirSync(join(dir, 'open-round')).length, { timeout: 30_000 }).toBe(0);
    await node.stop();
    node = await startTestNode(net, undefined, { federation: FED });
    api = new PublicApi(node.url);
    const attacker = freshWallet();
    const replay = await api.submit(attacker, await api.task(attacker), made.bytes);
    expect(replay.code, replay.message).toBe('DUPLICATE_UPDATE');
    const copy = await api.submit(attacker, await api.task(attacker), ulpNudged(decodeFor(model.cfg, made.bytes)));
    expect(copy.code, copy.message).toBe('COPIED_UPDATE');
    expect(await api.balance(attacker.address)).toBe(0n);
  }, 240_000);
});
