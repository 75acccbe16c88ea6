/**
 * A hostile peer: malformed and forged gossip it signed is refused with a clear 4xx and costs its node id its
 * standing until it is banned; unsigned or forged envelopes blame nobody; a flood is cut off with 429; the node keeps
 * serving and its chain does not move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBlock, sealBlock } from '../../chain/block/block.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { AiloNode } from '../node.js';
import { signTx } from '../../chain/tx/sign.js';
import { alice, bob, get, gossipTo, startTestNode, testNet, testPeer, type TestNet } from '../test/harness.js';
import type { NodeIdentity } from './envelope.js';

describe('gossip from a hostile peer', () => {
  let net: TestNet;
  let node: AiloNode;
  let evil: NodeIdentity;
  beforeAll(async () => {
    net = testNet();
    // Low limits so the flood below is one whatever the machine's speed.
    node = await startTestNode(net, undefined, { gossipLimits: { txPerSecond: 5, txBurst: 50, blocksPerSecond: 5, blockBurst: 50 } });
    evil = testPeer(node, 'http://127.0.0.66:9');
  });
  afterAll(async () => {
    await node.stop();
    net.remove();
  });

  it('refuses malformed bytes and forged blocks by name, and bans the node id that signed them', async () => {
    const head = node.chain.head.hash;
    const garbageTx = await gossipTo(node, '/api/p2p/tx', new TextEncoder().encode('not a transaction'), evil);
    expect([garbageTx.status, garbageTx.json.error?.code]).toEqual([400, 'TX_MALFORMED']);
    const garbageBlock = await gossipTo(node, '/api/p2p/block', Uint8Array.of(1, 2, 3), evil);
    expect([garbageBlock.status, garbageBlock.json.error?.code]).toEqual([400, 'BLOCK_MALFORMED']);

    const outsider = wallet(666);
    const parent = node.chain.head.header;
    const forged = sealBlock(
      {
        ...parent,
        height: parent.height + 1n,
        parentHash: node.chain.head.hash,
        timestamp: parent.timestamp + 1000n,
        proposer: outsider.address,
      },
      [],
      outsider.key,
    );
    const refused = await gossipTo(node, '/api/p2p/block', encodeBlock(forged), evil);
    expect([refused.status, refused.json.error?.code]).toEqual([400, 'BLOCK_NOT_AUTHORIZED']);

    for (let i = 0; i < 10 && !node.network.peers.isBanned(evil.id); i++) await gossipTo(node, '/api/p2p/block', encodeBlock(forged), evil);
    expect(node.network.peers.isBanned(evil.id)).toBe(true);
    const afterBan = await gossipTo(node, '/api/p2p/tx', new TextEncoder().encode('more'), evil);
    expect([afterBan.status, afterBan.json.error?.code]).toEqual([403, 'PEER_BANNED']);
    expect(node.chain.head.hash).toBe(head);
    // The ban is on that id only: the same bytes unsigned, or under a forged envelope naming it, are anonymous.
    const forgedEnvelope = { ...evil.sign('POST', node.url, '/api/p2p/tx', Uint8Array.of(9)), 'x-ailo-peer': evil.url };
    const anonymous = await gossipTo(node, '/api/p2p/tx', new TextEncoder().encode('more'), undefined, forgedEnvelope);
    expect([anonymous.status, anonymous.json.error?.code]).toEqual([400, 'TX_MALFORMED']);
  });

  it('cuts a flood off with 429 and keeps serving everyone else', async () => {
    const flooder = testPeer(node, 'http://127.0.0.67:9');
    const codes = new Map<number, number>();
    // Well-formed gossip (one valid transfer, over and over) costs no points; only its rate gives it away.
    const tx = signTx({ type: 'transfer', from: alice.address, to: bob.address, amount: 1n, nonce: 0n }, alice.key, net.network).bytes;
    for (let i = 0; i < 500; i++) {
      const r = await gossipTo(node, '/api/p2p/tx', tx, flooder);
      codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      if (r.status === 429) break;
    }
    expect(codes.get(429), JSON.stringify([...codes])).toBe(1);
    // Every answer before the 429 counts: the transfer may be sealed mid-loop, and then it is known (200) or refused
    // as used (409); the burst of 50 must have been served whatever the answers were.
    const served = [...codes].filter(([status]) => status !== 429).reduce((sum, [, n]) => sum + n, 0);
    expect(served, JSON.stringify([...codes])).toBeGreaterThanOrEqual(50);
    expect(node.network.peers.isBanned(flooder.id)).toBe(false);
    expect((await get(`${node.url}/api/status`)).status).toBe(200);
    // Another sender is unaffected.
    expect((await gossipTo(node, '/api/p2p/tx', Uint8Array.of(0xff), testPeer(node, 'http://127.0.0.68:9'))).status).toBe(400);
  });
});

describe('junk gossip and the node log', () => {
  it('writes a few lines, not one per junk message, whether one peer or hundreds send it (issue 17)', async () => {
    const net = testNet();
    const lines: string[] = [];
    const node = await startTestNode(net, undefined, {
      log: (line) => lines.push(line),
      gossipLimits: { txPerSecond: 1000, txBurst: 1000, blocksPerSecond: 1000, blockBurst: 1000 },
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = lines.length;
      const one = testPeer(node, 'http://127.0.0.70:9');
      const statuses = new Set<number>();
      for (let i = 0; i < 300; i++) statuses.add((await gossipTo(node, '/api/p2p/tx', Uint8Array.of(0xde, 0xad, i & 0xff), one)).status);
      for (let i = 0; i < 300; i++)
        statuses.add(
          (await gossipTo(node, '/api/p2p/tx', Uint8Array.of(0xbe, 0xef, i & 0xff), testPeer(node, `http://127.0.1.${i % 250}:9`))).status,
        );
      // Every message was answered (400, or 403 once the one peer is banned), and the log holds a handful of lines.
      expect(
        [...statuses].every((s) => s === 400 || s === 403),
        [...statuses].join(),
      ).toBe(true);
      const junkLines = lines.slice(before);
      expect(junkLines.length, junkLines.join('\n')).toBeLessThan(20);
      expect((await get(`${node.url}/api/status`)).status).toBe(200);
    } finally {
      await node.stop();
      net.remove();
    }
  });
});
