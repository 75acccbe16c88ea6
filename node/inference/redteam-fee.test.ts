/**
 * Red-team attacks on chat fees (an outside review found R3 and R4 gaining something; each is now a test that the
 * attacker gains nothing), on one real node (ailo-small, 6 layers): malformed fees, one fee for two concurrent requests,
 * a span split among the attacker's standbys mid-request to crowd out an honest holder, a request that fails after
 * its fee was charged, and one wallet holding two places.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { ALC } from '../../chain/spec.js';

import type { RoomContributor } from '../../trainer/inference/contributor.js';

import { AiloNode } from '../node.js';
import { alice, get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';
import { chatEvents, fundedChatter, nativeContributor, quotedFee, stopAfter, type Chatter } from '../test/inference.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };

const SHARE = 10n ** 18n / 20n;
const PROMPT = 'The network trains one model';

describe('red team: chat fees on one node', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  let user: Chatter;
  let userAddress: string;
  const logs: string[] = [];
  const contributors: RoomContributor[] = [];
  const [H, L, S1, S2, W] = [701, 702, 703, 704, 705].map((n) => wallet(n));

  beforeAll(async () => {
    net = testNet(50, { model: 'ailo-small' });
    cache = mkdtempSync(join(tmpdir(), 'ailo-redteam-fee-'));
    node = await startTestNode(net, join(net.root, 'data'), {
      federation: FED,
      inference: { checkRate: 1, roomWaitMs: 200, reassignWaitMs: 8_000, perAccountPerMinute: 100 },
      log: (l) => logs.push(l),
    });
    user = await fundedChatter(node.url, net.network, alice, 'honest', 10n * ALC);
    userAddress = user.address;
  }, 60_000);
  afterAll(async () => {
    for (const c of contributors) c.stop();
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  const balance = async (who: string): Promise<bigint> => BigInt((await get(`${node.url}/api/ledger/account/${who}`)).json.balance);
  const balances = async (wallets: Record<string, { address: string }>): Promise<Record<string, bigint>> =>
    Object.fromEntries(await Promise.all(Object.entries(wallets).map(async ([k, w]) => [k, await balance(w.address)] as const)));
  const models = async () => (await get(`${node.url}/api/inference/models`)).json.models[0];
  function contributor(key: { key: Uint8Array }, maxLayers: number): RoomContributor {
    // One shared chunk cache: a standby assigned mid-request loads fast.
    const c = nativeContributor({ nodeUrl: node.url, network: net.network, key: key.key, maxLayers, cacheDir: cache, name: 'shared' });
    contributors.push(c);
    return c;
  }
  const settleLedger = async (): Promise<void> => {
    await waitFor('pool empty', async () => ((await get(`${node.url}/api/status`)).json.pendingTransactions === 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
  };

  it('R1 malformed fee bodies get a 4xx and the node keeps answering', async () => {
    const good = await quotedFee(node.url, user.key, 'ailo');
    const bodies: unknown[] = [
      null,
      [],
      'x',
      1,
      true,
      {},
      { ...good, amount: '-1' },
      { ...good, amount: '1e30' },
      { ...good, amount: '9'.repeat(200) },
      { ...good, amount: 1e30 },
      { ...good, nonce: '18446744073709551616' },
      { ...good, nonce: -1 },
      { ...good, signature: '0x' },
      { ...good, signature: `0x${'ff'.repeat(65)}` },
      { ...good, chainId: 'abc' },
      { ...good, chainId: '1'.repeat(400) },
      { ...good, genesisHash: '0x1' },
      { ...good, from: { toString: 1 } },
      { ...good, to: ['0x'] },
      { ...good, extra: 1 },
      JSON.parse(`{"__proto__": {"amount": "1"}, "from": "${good.from}"}`),
      { ...good, amount: '0' },
    ];
    const u0 = await balance(userAddress);
    for (const fee of bodies) {
      const r = await chatEvents(node.url, user, { model: 'ailo', prompt: 'hi', fee });
      expect([400, 402], JSON.stringify(fee)?.slice(0, 80)).toContain(r.status);
      expect(r.json?.error?.code).toMatch(/^[A-Z][A-Z_]+$/); // named: BAD_ADDRESS, BAD_REQUEST, FEE_REFUSED...
    }
    expect(await balance(userAddress)).toBe(u0);
    expect((await get(`${node.url}/api/status`)).status).toBe(200);
  }, 60_000);

  it('R2 one fee sent twice at once buys one answer', async () => {
    await contributor(H, 1).start();
    await waitFor('H serving', async () => ((await models()).spans.length === 1 ? true : undefined), 60_000);
    await contributor(L, 5).start();
    await waitFor('servable', async () => ((await models()).servable ? true : undefined), 60_000);
    expect((await models()).requestFee).toBe((2n * SHARE).toString());
    const u0 = await balance(userAddress);
    const fee = await quotedFee(node.url, user.key, 'ailo');
    const both = await Promise.all([0, 1].map(() => chatEvents(node.url, user, { model: 'ailo', prompt: PROMPT, maxTokens: 4, fee })));
    expect(both.filter((r) => r.status === 200).length).toBe(1);
    await settleLedger();
    const u1 = await balance(userAddress);
    expect(u0 - u1).toBe(2n * SHARE);
  }, 120_000);

  it('R3 the attacker leaves mid-answer and two of its standbys split its layers: they share its one slot; the honest holder is paid', async () => {
    // Chain [H: layer 0, L: layers 1-5] (fee 2 shares). Attacker standbys S1 (3 layers), S2 (2 layers) wait. Before the
    // fix, the request paid its 2 longest spans at the end (S1 and S2) and H, which served every token, got nothing.
    await contributor(S1, 3).start();
    await contributor(S2, 2).start();
    await waitFor('standbys joined', async () => ((await models()).contributors === 4 ? true : undefined), 20_000);
    const wallets = { H, L, S1, S2 };
    const before = await balances(wallets);
    const u0 = await balance(userAddress);
    const leaver = contributors[1]!;
    const cancel = stopAfter(leaver, 3);
    const r = await chatEvents(node.url, user, { model: 'ailo', prompt: PROMPT, temperature: 0, maxTokens: 16 });
    cancel();
    expect(r.events.at(-1)).toMatchObject({ type: 'done', tokens: 16, refund: '0' });
    await settleLedger();
    const after = await balances(wallets);
    expect(after.H! - before.H!).toBe(SHARE);
    // The attacker's wallets together earn the one slot L held, as if L had stayed: splitting gained nothing.
    expect(after.L! + after.S1! + after.S2! - before.L! - before.S1! - before.S2!).toBe(SHARE);
    expect(after.S1! - before.S1!).toBe(SHARE); // the replacement holding most of the slot
    expect(u0 - (await balance(userAddress))).toBe(2n * SHARE);
  }, 120_000);

  it('R4 a request that fails after its first token pays the contributors that stayed and refunds the rest', async () => {
    // Chain now [H, S1, S2] (fee 3 shares). S2 leaves after the first token; no standby: ROOM_LOST. Before the fix the
    // user was charged all 3 shares and nobody was paid.
    await waitFor('servable', async () => ((await models()).servable ? true : undefined), 30_000);
    const fee = BigInt((await models()).requestFee);
    expect(fee).toBe(3n * SHARE);
    const wallets = { H, S1, S2 };
    const before = await balances(wallets);
    const u0 = await balance(userAddress);
    const s2 = contributors[3]!;
    const cancel = stopAfter(s2, 2);
    const r = await chatEvents(node.url, user, { model: 'ailo', prompt: PROMPT, temperature: 0, maxTokens: 16 });
    cancel();
    expect(r.events.at(-1)).toMatchObject({ type: 'error', code: 'ROOM_LOST' });
    expect(r.events.some((e) => e.type === 'notice' && /ALC of the fee is refunded/.test(e.message))).toBe(true);
    await settleLedger();
    const after = await balances(wallets);
    // The two that stayed are paid for their slots; the one that left is not, and its share goes back to the user.
    expect([after.H! - before.H!, after.S1! - before.S1!, after.S2! - before.S2!]).toEqual([SHARE, SHARE, 0n]);
    expect(u0 - (await balance(userAddress))).toBe(2n * SHARE);
  }, 120_000);

  it('R5 a wallet takes one place in a room: a second channel signed by the same wallet replaces the first', async () => {
    // Before the fix a wallet could hold two slots; the ledger mints one inference_reward per (request, wallet), so the
    // requester paid for two rewards and one was never minted (the coordinator kept that share).
    const present = (await models()).contributors;
    const first = contributor(W, 3);
    await first.start();
    await waitFor('W joined', async () => ((await models()).contributors === present + 1 ? true : undefined), 20_000);
    const second = contributor(W, 3);
    await second.start();
    await first.closed;
    expect(first.state.closing).toMatchObject({ code: 'REPLACED', message: expect.stringMatching(/a wallet holds one place per room/) });
    expect((await models()).contributors).toBe(present + 1);
  }, 60_000);
});
