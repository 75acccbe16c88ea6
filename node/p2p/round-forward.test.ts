/**
 * Rounds with several nodes: a miner talking to a follower is served by the round coordinator (the first coordinator
 * in genesis) through the follower, and its reward reaches the ledger every node holds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChecksumAddress } from '../../chain/address.js';
import { wallet } from '../../chain/test/fixtures.js';
import { Miner } from '../../trainer/miner/miner.js';
import { AiloNode } from '../node.js';
import { get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 2, roundMs: 120_000, density: 0.01 };
const miner = wallet(404);

describe('training rounds through a follower', () => {
  let net: TestNet;
  let coordinator: AiloNode;
  let follower: AiloNode;
  let cache: string;

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-fwd-'));
    coordinator = await startTestNode(net, join(net.root, 'c'), { federation: FED });
    follower = await AiloNode.start({ data: join(net.root, 'f'), host: '127.0.0.1', port: 0, genesisFile: net.genesisPath, peers: [coordinator.url], federation: {}, log: () => {} });
  }, 60_000);
  afterAll(async () => {
    await follower?.stop();
    await coordinator?.stop();
    net.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  it('forwards model, task and submission routes to the round coordinator, and the reward lands on both ledgers', async () => {
    const round = await get(`${follower.url}/api/round`);
    expect(round.status).toBe(200);
    expect(round.json.roundSize).toBe(2);
    const m = new Miner({ wallet: toChecksumAddress(miner.address), nodeUrl: follower.url, provider: 'cpu', power: 100, cacheDir: cache, maxTasks: 1 });
    const summary = await m.run();
    expect(summary.accepted).toHaveLength(1);
    const contribution = summary.accepted[0]!.contribution;
    for (const node of [follower, coordinator]) {
      await waitFor(`contribution on ${node.url}`, async () => ((await get(`${node.url}/api/ledger/tx/${contribution}`)).json.status === 'confirmed' ? true : undefined), 30_000);
    }
    expect(BigInt((await get(`${follower.url}/api/ledger/account/${miner.address}`)).json.balance)).toBe(summary.accepted[0]!.reward);

    // Abandoning goes to the round coordinator too: an open task is given back, the submitted one stays used.
    const who = toChecksumAddress(miner.address);
    const drop = (id: string): Promise<Response> => fetch(`${follower.url}/api/task/${id}?wallet=${who}`, { method: 'DELETE' });
    const task = await fetch(`${follower.url}/api/task`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ wallet: who }) }).then((r) => r.json());
    const abandoned = await drop(task.taskId);
    expect(abandoned.status).toBe(200);
    expect(abandoned.headers.get('x-ailo-forwarded-to')).toBe(coordinator.url);
    expect((await get(`${follower.url}/api/task/${task.taskId}`)).json.state).toBe('abandoned');
    expect(coordinator.federation!.tasks.get(task.taskId)?.state).toBe('abandoned');
    const used = await drop(summary.accepted[0]!.taskId);
    expect([used.status, ((await used.json()) as any).error.code]).toEqual([409, 'TASK_USED']);
  }, 120_000);
});
