/**
 * A cuda miner's mixed-precision task (`ailo-miner --precision fp16`: float16 products summed in float32, as cuBLAS
 * does by default) is recomputed by the coordinator with float16 rounding emulated in float32, as it recomputes an
 * 8-bit miner's task with 8-bit moments: so an honest fp16 update passes a tight tolerance, and a claim of fp16 gains
 * nothing. No GPU here: the miner's training is the same emulation on the CPU (operands and results rounded to
 * float16's 11 significant bits, sums in float32), which is what a cuda fp16 step computes, summation order aside.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { signTaskRequest } from '../../chain/tx/task-request.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { submitPath, type Task } from '../../protocol/federation.js';
import { tokensFromBytes } from '../../trainer/corpus/token-bytes.js';
import { trainLocally } from '../../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../../trainer/federated/task-update.js';
import { presetConfig } from '../../trainer/model/config.js';
import type { AiloNode } from '../node.js';
import { coordinator, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';

describe('a mixed-precision task', () => {
  let net: TestNet;
  let node: AiloNode;
  const lines: string[] = [];

  beforeAll(async () => {
    net = testNet(51);
    node = await startTestNode(net, join(net.root, 'data'), {
      // Tighter than the default 5%: float16 rounding moves this task's update 1.5% from float32 training (measured).
      federation: { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000, recomputeTolerance: 0.001 },
      log: (l) => lines.push(l),
    });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  /** A task for `who`, trained with float16 rounding, and sent saying `settings`. */
  async function trainAndSend(who: ReturnType<typeof wallet>, settings: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${node.url}/api/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signTaskRequest(who.key, net.network, coordinator.address)),
    });
    expect(res.status).toBe(201);
    const task = (await res.json()) as Task;
    const tokens = tokensFromBytes(new Uint8Array(await (await fetch(`${node.url}/api/task/${task.taskId}/tokens`)).arrayBuffer()));
    const cfg = presetConfig('ailo-tiny');
    const trained = await trainLocally(cfg, 'cpu', node.federation!.currentWeights(), tokens, task, { precision: 'fp16-emulated' });
    expect(trained!.settings.precision).toBe('fp16-emulated');
    const path = submitPath({
      wallet: toChecksumAddress(who.address),
      taskId: task.taskId,
      modelVersion: task.modelVersion,
      loss: trained!.losses.at(-1)!,
      batchSize: task.batchSize,
      settings,
    });
    const bytes = compressTaskUpdate(cfg, trained!.update, task).bytes;
    const sent = await fetch(node.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
    return { status: sent.status, body: await sent.json() };
  }

  it('is recomputed with float16 rounding emulated: accepted and paid when it says fp16; the same training said to be float32 is refused', async () => {
    const honest = wallet(331);
    const said = await trainAndSend(honest, 'cuda/fused/float32/fp16');
    expect(said.status, JSON.stringify(said.body)).toBe(200);
    expect(lines.some((l) => /accepted task .*trained cuda\/fused\/float32\/fp16/.test(l))).toBe(true);
    await waitFor('the reward', async () => node.ledger.account(honest.address).balance > 0n || undefined);

    // The same kind of training, sent as float32: the coordinator's float32 recomputation is further away than the
    // tolerance, so the settings a miner states are what it is checked against, and stating them wrongly is refused.
    const unsaid = await trainAndSend(wallet(332), 'cuda/fused/float32');
    expect([unsaid.status, unsaid.body.error.code]).toEqual([422, 'UPDATE_MISMATCH']);
    const away = Number(/([0-9.]+)% away/.exec(unsaid.body.error.message)?.[1]);
    expect(away).toBeGreaterThan(0.1);
    expect(node.ledger.account(wallet(332).address).balance).toBe(0n);

    // Mixed precision is stated for cuda's fused layout only: any other claim of it is refused before anything is read.
    for (const settings of ['webgpu/fused/float32/fp16', 'cpu/layerwise/int8/fp16']) {
      const path = `/api/submit_gradient?wallet=${toChecksumAddress(honest.address)}&taskId=0x${'11'.repeat(32)}&modelVersion=0&loss=1&batchSize=4&settings=${settings}`;
      const r = await fetch(node.url + path, { method: 'POST' });
      expect([r.status, ((await r.json()) as { error: { message: string } }).error.message]).toEqual([
        400,
        expect.stringMatching(/cuda\/fused\/float32\/fp16 for mixed precision/),
      ]);
    }
  }, 120_000);
});
