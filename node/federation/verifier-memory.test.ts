/**
 * A coordinator's own trainings (its reference tasks and the recomputation of each submission) take the memory
 * planner's layout within what it may use (`trainMemoryGiB`). When no layout fits, an honest submission is not refused
 * and nothing is lost: it is answered 503 VERIFIER_BUSY, the task stays open, and the same update is accepted and paid
 * once the coordinator has the memory (here: its operator raises the setting). The real miner keeps such an update and
 * sends it again after the node's Retry-After (until the task's deadline), instead of calling the node unreachable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { signTaskRequest } from '../../chain/tx/task-request.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { submitPath, type Task } from '../../protocol/federation.js';
import { trainLocally } from '../../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../../trainer/federated/task-update.js';
import { presetConfig } from '../../trainer/model/config.js';
import { tokensFromBytes } from '../../trainer/corpus/token-bytes.js';
import { Miner } from '../../trainer/miner/miner.js';
import type { AiloNode } from '../node.js';
import { taskRequestSigner } from '../ailo-miner/task-signer.js';
import { coordinator, get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';

const miner = wallet(321);
const MINER = toChecksumAddress(miner.address);
const miner2 = wallet(322);
const MINER2 = toChecksumAddress(miner2.address);

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
    expect([busy.status, body.error.code, busy.headers.get('retry-after')]).toEqual([503, 'VERIFIER_BUSY', '30']);
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

  it('the miner keeps a VERIFIER_BUSY update and sends it again until the node can verify it: accepted and paid', async () => {
    node.federation!.cfg.trainMemoryGiB = 1e-4;
    const cache = mkdtempSync(join(tmpdir(), 'ailo-verifier-busy-'));
    const log: string[] = [];
    let sends = 0;
    const server = (node as unknown as { server: Server }).server;
    const onRequest = (req: IncomingMessage): void => {
      if (req.method === 'POST' && req.url?.startsWith('/api/submit_gradient')) sends++;
    };
    server.on('request', onRequest);
    const m = new Miner({
      wallet: MINER2,
      signTaskRequest: taskRequestSigner(miner2.key, node.url),
      nodeUrl: node.url,
      provider: 'cpu',
      power: 100,
      cacheDir: cache,
      maxTasks: 1,
      retry: { attempts: 2, baseMs: 10, maxMs: 20 },
      busyResendMs: 200,
      log: (l) => {
        log.push(l);
        // The operator allows it the machine's memory after the miner has been told twice to wait.
        if (log.filter((x) => x.includes('cannot verify it yet')).length === 2) node.federation!.cfg.trainMemoryGiB = 0;
      },
    });
    try {
      const summary = await m.run();
      expect(summary.rejections).toEqual([]);
      expect(summary.accepted).toHaveLength(1);
      // Two answers of 503 VERIFIER_BUSY (each of 2 tries), then the same update verified and accepted.
      expect(sends).toBe(5);
      expect(
        log.filter((l) =>
          /cannot verify it yet \(VERIFIER_BUSY: .*does not fit its memory.*\); the update is kept and sent again in 0.2 s/.test(l),
        ),
      ).toHaveLength(2);
      expect(log.join('\n')).not.toMatch(/unreachable/);
      await waitFor('the reward', async () => node.ledger.account(miner2.address).balance > 0n || undefined);
    } finally {
      server.off('request', onRequest);
      rmSync(cache, { recursive: true, force: true });
    }
  }, 120_000);
});
