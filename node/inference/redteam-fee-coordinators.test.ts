/**
 * Red team: a chat fee double-spent across coordinators (an outside review's R5). Two coordinators: the node (runs the
 * room) and X (the test seals X's blocks, including what the node's pool holds, like a peer). The attacker chats on
 * the node and sends a transfer of the same nonce to X (to another wallet of its own); X seals it before the node
 * seals the fee. Before the fix the answer streamed while the fee was only pending: the attacker got a whole answer
 * for nothing and the honest contributor was unpaid. Now the room computes nothing until the fee is in a block.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { ALC } from '../../chain/spec.js';
import { signTransfer } from '../../chain/tx/sign.js';
import { parseAddress } from '../../protocol/address.js';
import { privateKeyToAddress } from '../../protocol/signature.js';
import type { RoomContributor } from '../../trainer/inference/contributor.js';

import { AiloNode } from '../node.js';
import { parseTransferBody } from '../api/ledger-routes.js';
import { coordinator, get, startTestNode, waitFor } from '../test/harness.js';
import { chatEvents, fund, fundedChatter, nativeContributor, quotedFee, untilServable, type Chatter } from '../test/inference.js';
import { replicaNet, sealAsPeer } from '../test/replica-net.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };

describe('red team: a fee double-spent on another coordinator', () => {
  const X = wallet(720);
  const funder = wallet(721);
  const W2 = wallet(722); // the attacker's other wallet
  const C = wallet(730); // an honest contributor
  const rn = replicaNet('ailo-redteam-fee', 795n, [coordinator, X], funder, 100n * ALC);
  let node: AiloNode;
  let cache: string;
  let user: Chatter;
  let userAddress: string;
  let xPaused = false;
  let xBusy = false;
  let xTimer: ReturnType<typeof setInterval>;
  const contributors: RoomContributor[] = [];

  /** X seals the node's pending transactions (or `txs`) on the node's head once it may. */
  const xSeal = (txs = node.ledger.pool.take(100)): Promise<boolean> => sealAsPeer(node, X, txs);

  beforeAll(async () => {
    cache = mkdtempSync(join(tmpdir(), 'ailo-redteam-fee-x-'));
    node = await startTestNode(rn.netFor(coordinator, 'node'), join(rn.root, 'node'), {
      federation: FED,
      inference: { checkRate: 1, roomWaitMs: 200, feeWaitMs: 10_000 },
    });
    xTimer = setInterval(() => {
      if (xPaused || xBusy) return;
      xBusy = true;
      void xSeal()
        .catch(() => false)
        .finally(() => (xBusy = false));
    }, 30);
    user = await fundedChatter(node.url, rn.network, funder, 'attacker', 10n * ALC);
    userAddress = user.address;
  }, 60_000);
  afterAll(async () => {
    clearInterval(xTimer);
    for (const c of contributors) c.stop();
    await node?.stop();
    rmSync(rn.root, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });

  const balance = async (who: string): Promise<bigint> => BigInt((await get(`${node.url}/api/ledger/account/${who}`)).json.balance);

  it('the room computes nothing for the attacker: 402 FEE_NOT_CONFIRMED, no token, no work for the honest contributor', async () => {
    const c = nativeContributor({
      nodeUrl: node.url,
      network: rn.network,
      key: C.key,
      maxLayers: node.federation!.modelConfig.n_layer,
      cacheDir: cache,
      name: 'c',
    });
    contributors.push(c);
    await c.start();
    await untilServable(node.url);
    // The node just sealed (X is next): X, holding the attacker's transfer, seals before the node can seal the fee.
    xPaused = true;
    while (xBusy) await new Promise((r) => setTimeout(r, 10));
    // If the node sealed the head (the pause may fall just after it did), only X may seal next: X seals once more, so
    // that the node can seal the funding transfer below.
    await waitFor('X seals the head', async () => (node.chain.head.header.proposer === X.address || (await xSeal()) ? true : undefined));
    await fund(node.url, rn.network, funder, W2.address, 1n); // sealed by the node: only X may seal the next block
    expect(node.chain.head.header.proposer).toBe(coordinator.address);
    const before = { user: await balance(userAddress), W2: await balance(W2.address), C: await balance(C.address) };
    const servedBefore = c.state.served;
    const fee = await quotedFee(node.url, user.key, 'ailo');
    const chat = chatEvents(node.url, user, { model: 'ailo', prompt: 'The network trains one model', temperature: 0, maxTokens: 24, fee });
    await waitFor('the fee charged', async () => (node.ledger.pool.size > 0 ? true : undefined));
    const conflict = signTransfer(
      { from: privateKeyToAddress(user.key), to: parseAddress(W2.address), amount: 5n * ALC, nonce: BigInt(fee.nonce) },
      user.key,
      rn.network,
    );
    await waitFor('X seals the conflicting transfer', async () => ((await xSeal([parseTransferBody(conflict).tx])) ? true : undefined));
    xPaused = false;
    const r = await chat;
    expect([r.status, r.json?.error?.code]).toEqual([402, 'FEE_NOT_CONFIRMED']);
    expect(r.events).toEqual([]);
    await new Promise((res) => setTimeout(res, 1500));
    const after = { user: await balance(userAddress), W2: await balance(W2.address), C: await balance(C.address) };
    // The attacker moved its own ALC between its wallets and got nothing; the honest contributor did no work for it.
    expect(after.user + after.W2).toBe(before.user + before.W2);
    expect(c.state.served).toBe(servedBefore);
    expect(after.C).toBe(before.C);
  }, 120_000);
});
