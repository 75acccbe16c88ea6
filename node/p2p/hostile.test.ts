/**
 * A hostile peer: malformed and forged gossip is refused with a clear 4xx and costs the sender its standing until it
 * is banned; a flood is cut off with 429; the node keeps serving and its chain does not move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBlock, sealBlock } from '../../chain/block/block.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { AiloNode } from '../node.js';
import { signTx } from '../../chain/tx/sign.js';
import { alice, bob, CHAIN_ID, get, startTestNode, testNet, type TestNet } from '../test/harness.js';

const evil = 'http://127.0.0.66:9';

async function gossip(url: string, path: string, body: Uint8Array, from = evil): Promise<{ status: number; json: { error?: { code: string } } }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-ailo-peer': from }, body: new Uint8Array(body) });
  return { status: res.status, json: (await res.json()) as { error?: { code: string } } };
}

describe('gossip from a hostile peer', () => {
  let net: TestNet;
  let node: AiloNode;
  beforeAll(async () => {
    net = testNet();
    // Low limits so the flood below is one whatever the machine's speed.
    node = await startTestNode(net, undefined, { gossipLimits: { txPerSecond: 5, txBurst: 50, blocksPerSecond: 5, blockBurst: 50 } });
  });
  afterAll(async () => {
    await node.stop();
    net.remove();
  });

  it('refuses malformed bytes and forged blocks by name, and bans the sender', async () => {
    const head = node.chain.head.hash;
    const garbageTx = await gossip(node.url, '/api/p2p/tx', new TextEncoder().encode('not a transaction'));
    expect([garbageTx.status, garbageTx.json.error?.code]).toEqual([400, 'TX_MALFORMED']);
    const garbageBlock = await gossip(node.url, '/api/p2p/block', Uint8Array.of(1, 2, 3));
    expect([garbageBlock.status, garbageBlock.json.error?.code]).toEqual([400, 'BLOCK_MALFORMED']);

    const outsider = wallet(666);
    const parent = node.chain.head.header;
    const forged = sealBlock({ ...parent, height: parent.height + 1n, parentHash: node.chain.head.hash, timestamp: parent.timestamp + 1000n, proposer: outsider.address }, [], outsider.key);
    const refused = await gossip(node.url, '/api/p2p/block', encodeBlock(forged));
    expect([refused.status, refused.json.error?.code]).toEqual([400, 'BLOCK_NOT_AUTHORIZED']);

    for (let i = 0; i < 10 && !node.network.peers.isBanned(evil); i++) await gossip(node.url, '/api/p2p/block', encodeBlock(forged));
    expect(node.network.peers.isBanned(evil)).toBe(true);
    const afterBan = await gossip(node.url, '/api/p2p/tx', new TextEncoder().encode('more'));
    expect([afterBan.status, afterBan.json.error?.code]).toEqual([403, 'PEER_BANNED']);
    expect(node.chain.head.hash).toBe(head);
  });

  it('cuts a flood off with 429 and keeps serving everyone else', async () => {
    const flooder = 'http://127.0.0.67:9';
    const codes = new Map<number, number>();
    // Well-formed gossip (one valid transfer, over and over) costs no points; only its rate gives it away.
    const tx = signTx({ type: 'transfer', from: alice.address, to: bob.address, amount: 1n, nonce: 0n }, alice.key, CHAIN_ID).bytes;
    for (let i = 0; i < 500; i++) {
      const r = await gossip(node.url, '/api/p2p/tx', tx, flooder);
      codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      if (r.status === 429) break;
    }
    expect(codes.get(429), JSON.stringify([...codes])).toBe(1);
    expect(codes.get(202)).toBe(1);
    expect((codes.get(200) ?? 0) + 2).toBeGreaterThan(50);
    expect((await get(`${node.url}/api/status`)).status).toBe(200);
    // Another sender is unaffected.
    expect((await gossip(node.url, '/api/p2p/tx', Uint8Array.of(0xff), 'http://127.0.0.68:9')).status).toBe(400);
  });
});
