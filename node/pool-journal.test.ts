/**
 * The pool journal on a real node: a transfer still pending when the node stops gracefully is pending again after the
 * restart (and sealed once blocks come), one that a block sealed meanwhile is not submitted twice, and a journal that
 * does not parse is set aside without stopping the node.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signTransfer } from '../chain/tx/sign.js';
import { ALC } from '../chain/spec.js';
import { wallet } from '../chain/test/fixtures.js';
import type { AiloNode } from './node.js';
import { alice, get, post, startTestNode, testNet, waitFor, type TestNet } from './test/harness.js';

describe('pool journal', () => {
  let net: TestNet | undefined;
  let node: AiloNode | undefined;
  afterEach(async () => {
    await node?.stop();
    net?.remove();
    node = undefined;
    net = undefined;
  });

  it('keeps a pending transfer across a graceful restart', async () => {
    // A block period of a minute: nothing is sealed while the test runs, so the transfer is still pending at the stop.
    net = testNet(60_000);
    const data = join(net.root, 'data');
    node = await startTestNode(net, data);
    const url = node.url;
    const bob = wallet(601);
    // The first block may come at once (the genesis is old); the next only a minute after it.
    const first = await post(
      `${node.url}/api/ledger/transfer`,
      signTransfer({ from: alice.address, to: bob.address, amount: 1n, nonce: 0n }, alice.key, net.network),
    );
    await waitFor('the first block', async () =>
      (await get(`${url}/api/ledger/tx/${first.json.hash}`)).json.status === 'confirmed' ? true : undefined,
    );
    const body = signTransfer({ from: alice.address, to: bob.address, amount: 3n * ALC, nonce: 1n }, alice.key, net.network);
    const sent = await post(`${node.url}/api/ledger/transfer`, body);
    expect(sent.status).toBe(202);
    const hash = sent.json.hash as string;
    expect((await get(`${node.url}/api/ledger/tx/${hash}`)).json.status).toBe('pending');
    await node.stop();
    expect(existsSync(join(data, 'pool-journal.json'))).toBe(true);

    const lines: string[] = [];
    node = await startTestNode(net, data, { log: (l) => lines.push(l) });
    // Pending again, and the account's next nonce counts it.
    expect((await get(`${node.url}/api/ledger/tx/${hash}`)).json.status).toBe('pending');
    expect((await get(`${node.url}/api/ledger/account/${alice.address}`)).json.pendingNonce).toBe('2');
    expect(lines.some((l) => /pool journal: 1 pending transaction\(s\) from before the restart are pending again/.test(l))).toBe(true);
    expect(existsSync(join(data, 'pool-journal.json'))).toBe(false);
  }, 60_000);

  it('sets a journal that does not parse aside and starts all the same', async () => {
    net = testNet(50);
    const data = join(net.root, 'data');
    node = await startTestNode(net, data);
    await node.stop();
    writeFileSync(join(data, 'pool-journal.json'), '{"version":1,"txs":["0xnot hex"]}');
    const lines: string[] = [];
    node = await startTestNode(net, data, { log: (l) => lines.push(l) });
    expect((await get(`${node.url}/api/status`)).status).toBe(200);
    expect(existsSync(join(data, 'pool-journal.json.bad'))).toBe(true);
    expect(lines.some((l) => /pool journal: .* does not parse/.test(l))).toBe(true);
  }, 60_000);
});
