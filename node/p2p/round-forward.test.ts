/**
 * Rounds with several nodes: a miner talking to a follower is served by the round coordinator (the first coordinator
 * in genesis) through the follower, and its reward reaches the ledger every node holds. Only the peer that proved the
 * round coordinator's node id in a handshake is forwarded to, however another peer presents itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChecksumAddress } from '../../protocol/address.js';
import { wallet } from '../../chain/test/fixtures.js';
import { signTaskRequest } from '../../chain/tx/task-request.js';
import { Miner } from '../../trainer/miner/miner.js';
import { taskRequestSigner } from '../ailo-miner/task-signer.js';
import { AiloNode } from '../node.js';
import { coordinator as coordinatorWallet, get, post, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';

/**
 * A peer posing as the round coordinator: its /api/status names the coordinator's address, and it relays the
 * handshake to the real coordinator (so the answer carries a valid signature of the coordinator's id). It records
 * everything else it is sent.
 */
async function impostor(realCoordinator: () => string): Promise<{ url: string; received: string[]; close: () => Promise<void> }> {
  const received: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    void (async () => {
      if (req.url?.startsWith('/api/p2p/hello')) {
        const answer = await fetch(realCoordinator() + req.url);
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(Buffer.from(await answer.arrayBuffer()));
        return;
      }
      received.push(`${req.method} ${req.url}`);
      const body = req.url === '/api/status' ? { coordinator: coordinatorWallet.address } : {};
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

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
    follower = await AiloNode.start({
      data: join(net.root, 'f'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: net.genesisPath,
      peers: [coordinator.url],
      federation: {},
      log: () => {},
    });
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
    const m = new Miner({
      wallet: toChecksumAddress(miner.address),
      signTaskRequest: taskRequestSigner(miner.key, follower.url),
      nodeUrl: follower.url,
      provider: 'cpu',
      power: 100,
      cacheDir: cache,
      maxTasks: 1,
    });
    const summary = await m.run();
    expect(summary.accepted).toHaveLength(1);
    const contribution = summary.accepted[0]!.contribution;
    for (const node of [follower, coordinator]) {
      await waitFor(
        `contribution on ${node.url}`,
        async () => ((await get(`${node.url}/api/ledger/tx/${contribution}`)).json.status === 'confirmed' ? true : undefined),
        30_000,
      );
    }
    expect(BigInt((await get(`${follower.url}/api/ledger/account/${miner.address}`)).json.balance)).toBe(summary.accepted[0]!.reward);

    // Abandoning goes to the round coordinator too: an open task is given back, the submitted one stays used.
    const who = toChecksumAddress(miner.address);
    const drop = (id: string): Promise<Response> => fetch(`${follower.url}/api/task/${id}?wallet=${who}`, { method: 'DELETE' });
    const task = (await post(`${follower.url}/api/task`, signTaskRequest(miner.key, net.network, coordinatorWallet.address))).json;
    expect(task.wallet).toBe(who);
    const abandoned = await drop(task.taskId);
    expect(abandoned.status).toBe(200);
    expect(abandoned.headers.get('x-ailo-forwarded-to')).toBe(coordinator.url);
    expect((await get(`${follower.url}/api/task/${task.taskId}`)).json.state).toBe('abandoned');
    expect(coordinator.federation!.tasks.get(task.taskId)?.state).toBe('abandoned');
    const used = await drop(summary.accepted[0]!.taskId);
    expect([used.status, ((await used.json()) as any).state]).toEqual([200, 'used']);
  }, 120_000);

  it("passes the signed task request through intact, and the round coordinator's refusals back by name", async () => {
    const forwarded = async (
      body: unknown,
      to = follower,
    ): Promise<{ status: number; code?: string; message?: string; via: string | null }> => {
      const res = await fetch(`${to.url}/api/task`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as any;
      return { status: res.status, code: json.error?.code, message: json.error?.message, via: res.headers.get('x-ailo-forwarded-to') };
    };
    const who = toChecksumAddress(miner.address);
    const signed = signTaskRequest(miner.key, net.network, coordinatorWallet.address);
    const first = await forwarded(signed);
    expect([first.status, first.via]).toEqual([201, coordinator.url]);

    const refusals: [string, unknown, number, string][] = [
      ['unsigned', { wallet: who }, 400, 'UNSIGNED_TASK_REQUEST'],
      [
        'signed by another key',
        { ...signTaskRequest(wallet(405).key, net.network, coordinatorWallet.address), wallet: who },
        403,
        'BAD_TASK_SIGNATURE',
      ],
      ['replayed', signed, 409, 'REPLAYED_TASK_REQUEST'],
      ['stale', signTaskRequest(miner.key, net.network, coordinatorWallet.address, Date.now() - 5 * 60_000), 400, 'STALE_TASK_REQUEST'],
    ];
    for (const [what, body, status, code] of refusals) {
      const r = await forwarded(body);
      expect([r.status, r.code, r.via], what).toEqual([status, code, coordinator.url]);
      expect(r.message, what).toMatch(/sign/);
    }
    // The follower and the coordinator are one round: a request used through one is used at the other.
    expect((await forwarded(signed, coordinator)).code).toBe('REPLAYED_TASK_REQUEST');
  }, 60_000);

  it("forwards only to the peer that proved the round coordinator's id, never to one that merely claims it", async () => {
    const fake = await impostor(() => coordinator.url);
    // The impostor is named first, so a lookup by /api/status answers would pick it.
    const duped = await AiloNode.start({
      data: join(net.root, 'f2'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: net.genesisPath,
      peers: [fake.url, coordinator.url],
      federation: {},
      log: () => {},
    });
    try {
      const res = await fetch(`${duped.url}/api/task`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signTaskRequest(wallet(406).key, net.network, coordinatorWallet.address)),
      });
      expect([res.status, res.headers.get('x-ailo-forwarded-to')]).toEqual([201, coordinator.url]);
      expect(duped.network.peers.nodeAt(fake.url)).toBeUndefined();
      expect(duped.network.peers.urlOf(coordinatorWallet.address)).toBe(coordinator.url);
      expect(fake.received).toEqual([]);
    } finally {
      await duped.stop();
      await fake.close();
    }
  }, 60_000);
});
