/**
 * A coordinator's own trainings (its reference tasks and the recomputation of each submission) take the memory
 * planner's layout within what it may use (`trainMemoryGiB`). When no layout fits, an honest submission is not refused
 * and nothing is lost: it is answered 503 VERIFIER_BUSY, the task stays open, and the same update is accepted and paid
 * once the coordinator has the memory (here: its operator raises the setting).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { wallet } from '../../chain/test/fixtures.js';
import { signTaskRequest } from '../../chain/tx/task-request.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { submitPath, type Task } from '../../protocol/federation.js';
import { trainLocally } from '../../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../../trainer/federated/task-update.js';
import { presetConfig } from '../../trainer/model/config.js';
import { tokensFromBytes } from '../../trainer/corpus/token-bytes.js';
import type { AiloNode } from '../node.js';
import { coordinator, get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';

const miner = wallet(321);
const MINER = toChecksumAddress(miner.address);

describe('a coordinator without the memory for its own trainings', () => {
  let net: TestNet;
  let node: AiloNode;
  const lines: string[] = [];

  beforeAll(async () => {
    net = testNet(50);
    node = await startTestNode(net, join(net.root, 'data'), {
      // About 100 KiB: no training layout of ailo-tiny fits.
      federation: { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000, trainMemoryGiB: 1e-4 },
      log: (l) => lines.push(l),
    });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  it('answers an honest submission 503 VERIFIER_BUSY, keeps its task open, and pays it once it has the memory', async () => {
    const res = await fetch(`${node.url}/api/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signTaskRequest(miner.key, net.network, coordinator.address)),
    });
    expect(res.status).toBe(201);
    const task = (await res.json()) as Task;
    // The version's reference tasks could not be trained: the node says why.
    await waitFor('the scoring failure', async () => lines.find((l) => /scoring version 0: .*needs at least .* of memory/.test(l)));
    const tokens = tokensFromBytes(new Uint8Array(await (await fetch(`${node.url}/api/task/${task.taskId}/tokens`)).arrayBuffer()));
    const cfg = presetConfig('ailo-tiny');
    const trained = await trainLocally(cfg, 'cpu', node.federation!.currentWeights(), tokens, task);
    const bytes = compressTaskUpdate(cfg, trained!.update, task).bytes;
    const submit = (): Promise<Response> =>
      fetch(
        node.url +
          submitPath({
            wallet: MINER,
            taskId: task.taskId,
            modelVersion: task.modelVersion,
            loss: trained!.losses.at(-1)!,
            batchSize: task.batchSize,
            settings: `cpu/${trained!.settings.layout}/${trained!.settings.moments}`,
          }),
        { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes as Uint8Array<ArrayBuffer> },
      );
    const busy = await submit();
    const body = (await busy.json()) as { error: { code: string; message: string } };
    expect([busy.status, body.error.code]).toEqual([503, 'VERIFIER_BUSY']);
    expect(body.error.message).toMatch(/does not fit its memory .*needs at least .* of memory .*send it again/);
    expect((await get(`${node.url}/api/task/${task.taskId}`)).json.state).toBe('open');
    expect(node.ledger.account(miner.address).balance).toBe(0n);

    // The operator allows it the machine's memory: the same update is verified and paid.
    node.federation!.cfg.trainMemoryGiB = 0;
    const again = await submit();
    expect(again.status, await again.clone().text()).toBe(200);
    expect(lines.filter((l) => /reference task \d \([0-9.]+ s to train, fused\)/.test(l))).toHaveLength(2);
    await waitFor('the reward', async () => node.ledger.account(miner.address).balance > 0n || undefined);
  }, 120_000);
});
