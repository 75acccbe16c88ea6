/**
 * A transaction gossip could not deliver still reaches the coordinators: a follower takes a transfer while its only
 * peer, the coordinator, is down (the gossip fails and the peer backs off); once the coordinator is up, the
 * follower announces its pending transaction again and the coordinator seals it.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import type { AiloNode } from '../node.js';
import { get, post, signedTransfer, startTestNode, testNet, waitFor } from '../test/harness.js';

const bob = wallet(103);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('gossip that failed', () => {
  const net = testNet(50);
  const nodes: AiloNode[] = [];
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    net.remove();
  });

  it('is announced again until a coordinator has the transaction and seals it', async () => {
    const port = await freePort();
    const coordinatorUrl = `http://127.0.0.1:${port}`;
    const follower = await startTestNode(net, join(net.root, 'follower'), {
      coordinatorKeyFile: undefined,
      peers: [coordinatorUrl],
      federation: undefined,
    });
    nodes.push(follower);
    const sent = await post(`${follower.url}/api/ledger/transfer`, await signedTransfer(102, bob.address, 5n, 0n, net.network));
    expect(sent.status).toBe(202);
    const hash = sent.json.hash as string;
    expect((await get(`${follower.url}/api/ledger/tx/${hash}`)).json.status).toBe('pending');

    const coordinator = await startTestNode(net, join(net.root, 'coordinator'), { port });
    nodes.push(coordinator);
    // Nothing else brings it there: the coordinator has no peers and the transfer went to the follower only.
    await waitFor(
      'the transfer sealed by the coordinator',
      async () => ((await get(`${coordinatorUrl}/api/ledger/tx/${hash}`)).json.status === 'confirmed' ? true : undefined),
      30_000,
    );
    await waitFor(
      'the follower to see it in a block',
      async () => ((await get(`${follower.url}/api/ledger/tx/${hash}`)).json.status === 'confirmed' ? true : undefined),
      30_000,
    );
  });
});
