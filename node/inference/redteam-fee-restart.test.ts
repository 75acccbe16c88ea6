/**
 * Red team (an outside review found it): a fee charged (in the pool, announced to peers) but not yet in a block when
 * the node stops gracefully is dropped from the node's pool only; another coordinator that heard of it seals it after
 * the restart. The requester paid and nothing ran: the restarted node, which kept the fees it was still waiting for,
 * sees the block and refunds the fee in full.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { ALC } from '../../chain/spec.js';
import type { RoomContributor } from '../../trainer/inference/contributor.js';
import { AiloNode } from '../node.js';
import { parseTransferBody } from '../api/ledger-routes.js';
import { coordinator, get, startTestNode, waitFor } from '../test/harness.js';
import { chatEvents, fund, fundedChatter, nativeContributor, quotedFee, untilServable, type Chatter } from '../test/inference.js';
import { replicaNet, sealAsPeer, type sealOnHead } from '../test/replica-net.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };

describe('red team: a fee dropped at a stop, sealed by a peer after the restart', () => {
  const X = wallet(740);
  const funder = wallet(741);
  const W2 = wallet(742);
  const C = wallet(743);
  const rn = replicaNet('ailo-redteam-fee-restart', 796n, [coordinator, X], funder, 100n * ALC);
  let node: AiloNode;
  let cache: string;
  let user: Chatter;
  const contributors: RoomContributor[] = [];
  const logs: string[] = [];
  const inference = { checkRate: 1, roomWaitMs: 200, feeWaitMs: 10_000 };

  const xSeal = (txs: Parameters<typeof sealOnHead>[1]): Promise<boolean> => sealAsPeer(node, X, txs);

  beforeAll(async () => {
    cache = mkdtempSync(join(tmpdir(), 'ailo-redteam-fee-restart-'));
    node = await startTestNode(rn.netFor(coordinator, 'node'), join(rn.root, 'node'), {
      federation: FED,
      inference,
      log: (l) => logs.push(l),
    });
    user = await fundedChatter(node.url, rn.network, funder, 'victim', 10n * ALC);
  }, 60_000);
  afterAll(async () => {
    for (const c of contributors) c.stop();
    await node?.stop();
    rmSync(rn.root, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });

  const balance = async (who: string): Promise<bigint> => BigInt((await get(`${node.url}/api/ledger/account/${who}`)).json.balance);

  it('is refunded to the requester in full', async () => {
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
    // The node just sealed: X seals an empty block so the node may seal again.
    await waitFor('X seals', async () => ((await xSeal([])) ? true : undefined), 10_000);
    await fund(node.url, rn.network, funder, W2.address, 1n);
    // sealed by the node: while X is silent, nothing more is sealed
    expect(node.chain.head.header.proposer).toBe(coordinator.address);
    const u0 = await balance(user.address);
    const fee = await quotedFee(node.url, user.key, 'ailo');
    // The stop may cut this request's connection: its failure is expected, and handled from the start.
    const chat = chatEvents(node.url, user, { model: 'ailo', prompt: 'hello', temperature: 0, maxTokens: 4, fee }).catch(() => undefined);
    await waitFor('the fee charged', async () => (node.ledger.pool.size > 0 ? true : undefined));
    // Operator restarts the node while the fee waits for its block (it was already gossiped to X).
    await node.stop();
    // The request never ran: the stop answered it (or cut its connection) before any forward.
    await chat;
    expect(c.state.served).toBe(0);
    node = await startTestNode(rn.netFor(coordinator, 'node'), join(rn.root, 'node'), {
      federation: FED,
      inference,
      log: (l) => logs.push(l),
    });
    // X seals the fee it heard of; the restarted node sees the block and refunds the fee.
    await waitFor('X seals the fee', async () => ((await xSeal([parseTransferBody(fee).tx])) ? true : undefined), 10_000);
    await waitFor('the refund', async () => ((await balance(user.address)) === u0 ? true : undefined), 20_000);
    expect(logs.some((l) => /refunded 50000000000000000 .* sealed after its request gave up/.test(l))).toBe(true);
  }, 120_000);
});
