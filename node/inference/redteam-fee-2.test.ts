/**
 * Red team, a second outside review of chat fees (each attack gained something before its fix; each test asserts it
 * gains nothing now):
 * - the chain reshaped while the fee waits for its block: the fee is priced on a chain of 2 spans; the attacker's
 *   holder leaves and three standbys of its own split its layers, so the request starts on 4 spans. It paid its 2
 *   longest slots (the attacker's), and the honest holder that served every token got nothing. Now the slots are the
 *   chain the fee priced, and the standbys share the one the attacker left.
 * - a refund racing another transfer of the coordinator (its operator moving the fees it collected) at the same
 *   pending nonce: the loser was refused and the refund lost. Now it is signed again and retried.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALC } from '../../chain/spec.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { RoomContributor } from '../../trainer/inference/contributor.js';
import type { AiloNode } from '../node.js';
import { alice, bob, coordinator, get, post, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';
import { signTransfer } from '../../chain/tx/sign.js';
import { parseAddress } from '../../protocol/address.js';
import { chatEvents, fundedChatter, nativeContributor, quotedFee, type Chatter } from '../test/inference.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
const SHARE = 10n ** 18n / 20n;

describe('red team: the chain reshaped while the fee waits for its block', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  let user: Chatter;
  const logs: string[] = [];
  const contributors: RoomContributor[] = [];
  const [H, A, S1, S2, S3] = [931, 932, 933, 934, 935].map((n) => wallet(n));

  beforeAll(async () => {
    // 1 s blocks (the devnet's order of magnitude): the fee waits up to a block before anything runs.
    net = testNet(1_000, { model: 'ailo-small' });
    cache = mkdtempSync(join(tmpdir(), 'ailo-redteam-reshape-'));
    node = await startTestNode(net, join(net.root, 'data'), {
      federation: FED,
      inference: { checkRate: 1, roomWaitMs: 200, reassignWaitMs: 20_000 },
      log: (l) => logs.push(l),
    });
    user = await fundedChatter(node.url, net.network, alice, 'reshape', 2n * ALC);
  }, 60_000);
  afterAll(async () => {
    for (const c of contributors) c.stop();
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  const balance = async (who: string): Promise<bigint> => BigInt((await get(`${node.url}/api/ledger/account/${who}`)).json.balance);
  const models = async () => (await get(`${node.url}/api/inference/models`)).json.models[0];
  const start = async (k: { key: Uint8Array }, maxLayers: number): Promise<RoomContributor> => {
    const c = nativeContributor({ nodeUrl: node.url, network: net.network, key: k.key, maxLayers, cacheDir: cache, name: 'shared' });
    contributors.push(c);
    await c.start();
    return c;
  };

  it('an honest holder that served every token is paid', async () => {
    await start(H, 1);
    await waitFor('H serving', async () => ((await models()).spans.length === 1 ? true : undefined), 60_000);
    const a = await start(A, 5);
    await waitFor('servable', async () => ((await models()).servable ? true : undefined), 60_000);
    await start(S1, 2);
    await start(S2, 2);
    await start(S3, 1);
    await waitFor('standbys', async () => ((await models()).contributors === 5 ? true : undefined), 20_000);
    const fee = await quotedFee(node.url, user.key, 'ailo');
    expect(fee.amount).toBe((2n * SHARE).toString());
    const ws = { H, A, S1, S2, S3 };
    const before = Object.fromEntries(await Promise.all(Object.entries(ws).map(async ([k, w]) => [k, await balance(w.address)] as const)));
    const u0 = await balance(user.address);
    const chat = chatEvents(node.url, user, { model: 'ailo', prompt: 'The network trains one model', temperature: 0, maxTokens: 8, fee });
    // The attacker sees a fee pending (GET /api/status) and leaves: its standbys split its layers.
    await waitFor(
      'a fee pending',
      async () => ((await get(`${node.url}/api/status`)).json.pendingTransactions > 0 ? true : undefined),
      10_000,
    );
    a.stop();
    const r = await chat;
    await waitFor('pool empty', async () => ((await get(`${node.url}/api/status`)).json.pendingTransactions === 0 ? true : undefined));
    await new Promise((res) => setTimeout(res, 2_500));
    const after = Object.fromEntries(await Promise.all(Object.entries(ws).map(async ([k, w]) => [k, await balance(w.address)] as const)));
    expect(r.events.at(-1)).toMatchObject({ type: 'done', refund: '0' });
    expect(after.H! - before.H!).toBe(SHARE);
    // The attacker's wallets together earn the one slot A held: the reshaping gained nothing.
    expect(after.A! + after.S1! + after.S2! + after.S3! - before.A! - before.S1! - before.S2! - before.S3!).toBe(SHARE);
    expect(u0 - (await balance(user.address))).toBe(2n * SHARE);
  }, 180_000);
});

describe('red team: a refund racing a coordinator transfer', () => {
  let net: TestNet;
  let node: AiloNode;
  const logs: string[] = [];
  const U = wallet(941);

  beforeAll(async () => {
    net = testNet(200);
    node = await startTestNode(net, undefined, { federation: FED, inference: {}, log: (l) => logs.push(l) });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  const balance = async (who: string): Promise<bigint> => BigInt((await get(`${node.url}/api/ledger/account/${who}`)).json.balance);

  it('every refund reaches the requester', async () => {
    const u0 = await balance(U.address);
    const rounds = 8;
    for (let i = 0; i < rounds; i++) {
      const k = BigInt((await get(`${node.url}/api/ledger/account/${coordinator.address}`)).json.pendingNonce);
      const op = signTransfer(
        { from: coordinator.address, to: parseAddress(bob.address), amount: 1n, nonce: k },
        coordinator.key,
        net.network,
      );
      const sent = post(`${node.url}/api/ledger/transfer`, op);
      await new Promise((r) => setTimeout(r, i % 4));
      await node.inference!.refund(parseAddress(U.address), ALC / 100n, `race ${i}`);
      await sent;
    }
    await waitFor('pool empty', async () => ((await get(`${node.url}/api/status`)).json.pendingTransactions === 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    const got = (await balance(U.address)) - u0;
    console.log(`refunds owed ${rounds} x 0.01 ALC; received ${Number(got) / 1e18} ALC`);
    expect(got).toBe(BigInt(rounds) * (ALC / 100n));
  }, 60_000);
});
