/**
 * Replay across networks (issue 12): two real nodes with the same chainId and different genesis (net2 funds one more
 * account), Alice funded on both. A transfer signed for and accepted on net1 is submitted to net2 unchanged, bare
 * and with a forged claim; net2 refuses each and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALC } from '../../chain/spec.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { AiloNode } from '../node.js';
import { alice, bob, CHAIN_ID, get, post, signedTransfer, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';

describe('a transfer signed for another network with the same chainId', () => {
  let net1: TestNet;
  let net2: TestNet;
  let node1: AiloNode;
  let node2: AiloNode;

  beforeAll(async () => {
    net1 = testNet();
    net2 = testNet(50, { extraAlloc: [[wallet(104).address, 1n * ALC]] });
    [node1, node2] = await Promise.all([startTestNode(net1), startTestNode(net2)]);
  });
  afterAll(async () => {
    await Promise.all([node1?.stop(), node2?.stop()]);
    net1?.remove();
    net2?.remove();
  });

  /** Everything a replay could change on a node: both accounts, the pool, the head, and the tx itself. */
  const snapshot = async (url: string, hash: string) => ({
    alice: (await get(`${url}/api/ledger/account/${alice.address}`)).json,
    bob: (await get(`${url}/api/ledger/account/${bob.address}`)).json,
    pending: (await get(`${url}/api/status`)).json.pendingTransactions,
    head: (await get(`${url}/api/chain/head`)).json.hash,
    tx: (await get(`${url}/api/ledger/tx/${hash}`)).status,
  });

  it('is refused by net2 with TX_WRONG_CHAIN naming both networks, and net2 does not change', async () => {
    expect(net1.network.chainId).toBe(CHAIN_ID);
    expect(net2.network.chainId).toBe(CHAIN_ID);
    expect(net2.network.genesisHash).not.toBe(net1.network.genesisHash);
    const status2 = (await get(`${node2.url}/api/status`)).json;
    expect(status2).toMatchObject({ chainId: CHAIN_ID.toString(), genesisHash: net2.network.genesisHash });

    const body = await signedTransfer(102, bob.address, 60n * ALC, 0n, net1.network);
    const sent = await post(`${node1.url}/api/ledger/transfer`, body);
    expect(sent.status).toBe(202);
    await waitFor(
      'the transfer in a block on net1',
      async () => (await get(`${node1.url}/api/ledger/tx/${sent.json.hash}`)).json.status === 'confirmed' || undefined,
    );
    expect((await get(`${node1.url}/api/ledger/account/${bob.address}`)).json.balance).toBe((60n * ALC).toString());

    const before = await snapshot(node2.url, sent.json.hash);
    expect(before.alice).toMatchObject({ balance: (1000n * ALC).toString(), nonce: '0', pendingNonce: '0' });
    expect(before.tx).toBe(404);

    const replay = await post(`${node2.url}/api/ledger/transfer`, body);
    expect(replay.status).toBe(400);
    expect(replay.json.error.code).toBe('TX_WRONG_CHAIN');
    const message: string = replay.json.error.message;
    expect(message).toMatch(/signed by .* for another network/);
    expect(message).toContain(`chainId ${CHAIN_ID}, genesis ${net1.network.genesisHash}`);
    expect(message).toContain(`this node's network is chainId ${CHAIN_ID}, genesis ${net2.network.genesisHash}`);
    expect(message).toMatch(/sign it again/);

    // The same signature without the claim, or claiming net2, recovers to a stranger under net2's domain.
    const { chainId: _, genesisHash: __, ...bare } = body;
    const stripped = await post(`${node2.url}/api/ledger/transfer`, bare);
    expect(stripped.status).toBe(400);
    expect(stripped.json.error.code).toBe('TX_BAD_SIGNATURE');
    expect(stripped.json.error.message).toContain(`genesis ${net2.network.genesisHash}`);
    const forged = await post(`${node2.url}/api/ledger/transfer`, { ...body, genesisHash: net2.network.genesisHash });
    expect(forged.status).toBe(400);
    expect(forged.json.error.code).toBe('TX_BAD_SIGNATURE');

    expect(await snapshot(node2.url, sent.json.hash)).toEqual(before);

    // Signed again for net2, the same intent goes through there.
    const resigned = await post(`${node2.url}/api/ledger/transfer`, await signedTransfer(102, bob.address, 60n * ALC, 0n, net2.network));
    expect(resigned.status).toBe(202);
    expect(resigned.json.hash).not.toBe(sent.json.hash);
  });
});
