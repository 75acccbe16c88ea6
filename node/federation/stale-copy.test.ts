/**
 * A copy sent on a stale task (outside attack on issue 11): a task is submittable for `maxStaleness` versions, so a
 * task of version v, held open while two rounds close, could carry a 1-ulp copy of an update accepted on v. The copy
 * check used to remember only the current and the previous round; it now looks back as far as a task can be stale.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../../protocol/federation.js';
import type { AiloNode } from '../node.js';
import { startTestNode, testNet, type TestNet } from '../test/harness.js';
import { decodeFor, trainedUpdate, ulpNudged } from './redteam/attacks.js';
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
});
