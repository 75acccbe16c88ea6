/**
 * Inference rooms on a real coordinator node over loopback: three native contributors (real WebSockets, real
 * onnxruntime sessions, chunks from the node) each hold a span; a logged-in account chats over SSE; the answer equals
 * single-process greedy generation on the same weights; each contributor is paid `inferenceShare` per request on the
 * ledger; a contributor that leaves mid-answer is replaced and the answer completes; one that alters its activations
 * is caught by the node's recomputation, removed and unpaid; one serving its own account's request earns nothing;
 * bad input gets a named 4xx and changes nothing.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { toChecksumAddress } from '../../protocol/address.js';
import type { HiddenHeader } from '../../protocol/inference.js';
import { RoomContributor } from '../../trainer/inference/contributor.js';
import { spanParamNames, type SpanRunner } from '../../trainer/inference/span-runner.js';
import { ForwardSession } from '../../trainer/runtime/model-session.js';
import { makeSampler } from '../../trainer/runtime/sampling.js';
import { decodeTokens as detokenize, encodeText } from '../../trainer/corpus/tokenizer.js';

import { AiloNode } from '../node.js';
import { get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';
import { chatEvents, fundedChatter, nativeContributor, quotedFee, stopAfter, tokenIds, type Chatter } from '../test/inference.js';
import { alice, coordinator } from '../test/harness.js';
import { signTransfer } from '../../chain/tx/sign.js';
import { parseAddress } from '../../protocol/address.js';
import { privateKeyToAddress } from '../../protocol/signature.js';
import { ALC } from '../../chain/spec.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };

const SHARE = 10n ** 18n / 20n;
const PROMPT = 'The network trains one model';

/** A contributor that adds noise to every row it returns (a cheater saving work, or an attacker). */
class AlteringContributor extends RoomContributor {
  protected override async compute(runner: SpanRunner, header: HiddenHeader, values: Float32Array): Promise<Float32Array> {
    const out = await runner.forward(header.session, values, header.start);
    for (let i = 0; i < out.length; i += 7) out[i]! += 0.5;
    return out;
  }
}

describe('inference rooms', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  let user: Chatter;
  let userAddress: string;
  const contributors: RoomContributor[] = [];
  const keys = [401, 402, 403, 404, 405].map((n) => wallet(n));

  beforeAll(async () => {
    // ailo-small: 6 layers, so three contributors can each hold a span of two.
    net = testNet(50, { model: 'ailo-small' });
    cache = mkdtempSync(join(tmpdir(), 'ailo-room-'));
    node = await startTestNode(net, join(net.root, 'data'), {
      federation: FED,
      // Refused requests count against the per-account rate too: this test sends many.
      inference: { checkRate: 1, roomWaitMs: 200, reassignWaitMs: 20_000, perAccountPerMinute: 100 },
    });
    user = await fundedChatter(node.url, net.network, alice, 'chatter', 100n * ALC);
    userAddress = user.address;
  }, 60_000);
  afterAll(async () => {
    for (const c of contributors) c.stop();
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  function contributor(key: { key: Uint8Array }, maxLayers: number, Kind = RoomContributor): RoomContributor {
    const name = String(contributors.length);
    const c = nativeContributor({ nodeUrl: node.url, network: net.network, key: key.key, maxLayers, cacheDir: cache, name }, Kind);
    contributors.push(c);
    return c;
  }

  const chat = (body: Record<string, unknown>, who = user) => chatEvents(node.url, who, body);

  const balance = async (who: string): Promise<bigint> => BigInt((await get(`${node.url}/api/ledger/account/${who}`)).json.balance);
  const tokensOf = tokenIds;

  /** Greedy tokens of single-process generation (ForwardSession.generate, as `ailo-trainer generate`) on the node's weights. */
  async function expected(prompt: string, count: number): Promise<number[]> {
    const fs = new ForwardSession(node.federation!.modelConfig, 'cpu');
    await fs.setWeights(node.federation!.currentWeights());
    const out = await fs.generate(encodeText(prompt), count, makeSampler({ temperature: 0, topK: 0, seed: 1 }));
    await fs.dispose();
    return out;
  }

  const waitServable = (servable = true): Promise<boolean> =>
    waitFor(
      'room servable',
      async () => ((await get(`${node.url}/api/inference/models`)).json.models[0].servable === servable ? true : undefined),
      60_000,
    );

  it('refuses bad input by name and changes nothing', async () => {
    const cases: [Record<string, unknown>, number, string][] = [
      [{ model: 'ailo', prompt: 'x'.repeat(9000) }, 413, 'PROMPT_TOO_LONG'],
      [{ model: 'nope', prompt: 'hi' }, 404, 'UNKNOWN_MODEL'],
      [{ model: 'ailo', prompt: '' }, 400, 'BAD_REQUEST'],
      [{ model: 'ailo', prompt: 'hi', temperature: -1 }, 400, 'BAD_REQUEST'],
      [{ model: 'ailo', prompt: 'hi', maxTokens: 100000 }, 400, 'BAD_REQUEST'],
      [{ model: 'ailo', prompt: 'hi', extra: 1 }, 400, 'BAD_REQUEST'],
      [{ model: 'ailo', prompt: 'hi' }, 503, 'NO_ROOM'],
    ];
    for (const [body, status, code] of cases) {
      const r = await chat(body);
      expect([r.status, r.json?.error?.code], JSON.stringify(body).slice(0, 60)).toEqual([status, code]);
    }
    expect((await chat({ model: 'ailo', prompt: 'hi' }, { ...user, token: 'x'.repeat(43) })).status).toBe(401);
    expect((await chat({ model: 'ailo', prompt: 'hi', fee: undefined })).json?.error?.code).toBe('FEE_REQUIRED');
    expect((await chat({ model: 'ailo', prompt: 'hi', fee: { from: 1 } })).status).toBe(400);
    const models = (await get(`${node.url}/api/inference/models`)).json.models;
    expect(models).toEqual([
      expect.objectContaining({ id: 'ailo', servable: false, contributors: 0, layers: node.federation!.modelConfig.n_layer }),
    ]);
  });

  it('three contributors serve a chat; the answer equals single-process generation; each earns inferenceShare', async () => {
    const layers = node.federation!.modelConfig.n_layer;
    const per = Math.ceil(layers / 3);
    const trio = [contributor(keys[0]!, per), contributor(keys[1]!, per), contributor(keys[2]!, layers)];
    for (const c of trio) await c.start();
    await waitServable();
    const spans = (await get(`${node.url}/api/inference/models`)).json.models[0].spans;
    expect(spans.length).toBe(3);
    const before = await Promise.all(keys.slice(0, 3).map((k) => balance(k.address)));
    const userBefore = await balance(userAddress);
    expect((await get(`${node.url}/api/inference/models`)).json.models[0]).toMatchObject({
      requestFee: (3n * SHARE).toString(),
      inferenceShare: SHARE.toString(),
      feeTo: toChecksumAddress(coordinator.address),
    });
    const r = await chat({ model: 'ailo', prompt: PROMPT, temperature: 0, maxTokens: 12 });
    expect(r.status).toBe(200);
    expect(r.events[0]).toMatchObject({ type: 'start', fee: (3n * SHARE).toString() });
    expect(r.events.at(-1)).toMatchObject({ type: 'done', tokens: 12, contributors: 3, checked: true });
    const want = await expected(PROMPT, 12);
    expect(tokensOf(r.events)).toEqual(want);
    expect(
      r.events
        .filter((e) => e.type === 'token')
        .map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe(detokenize(want));
    for (const [i, k] of keys.slice(0, 3).entries()) {
      await waitFor(`reward of ${k.address}`, async () => ((await balance(k.address)) === before[i]! + SHARE ? true : undefined), 20_000);
    }
    // The requester paid the fee: one share for each span that served it.
    expect(await balance(userAddress)).toBe(userBefore - 3n * SHARE);
    // Each contributor downloaded only the chunks that hold its span's tensors, never the whole model.
    const manifest = node.federation!.model.manifest;
    for (const [i, c] of trio.entries()) {
      const names = spanParamNames(manifest.config, c.state.span!);
      const needed = manifest.chunks.filter((ch) =>
        names.some(
          (n) =>
            ch.offset < manifest.tensorMap[n]!.offset + manifest.tensorMap[n]!.size && manifest.tensorMap[n]!.offset < ch.offset + ch.size,
        ),
      );
      const cached = readdirSync(join(cache, String(i))).filter((f) => /^[0-9a-f]{64}$/.test(f));
      expect(cached.sort()).toEqual(needed.map((ch) => ch.name).sort());
      expect(cached.length).toBeLessThan(manifest.chunks.length);
    }
  }, 180_000);

  it('refuses a fee that is missing, short, from or to the wrong account, for another network, or spent, and charges nothing', async () => {
    const account = async () => (await get(`${node.url}/api/ledger/account/${userAddress}`)).json;
    const before = await account();
    const good = await quotedFee(node.url, user.key, 'ailo');
    const resign = (o: { amount?: bigint; to?: string; nonce?: bigint; key?: Uint8Array; network?: typeof net.network }) => {
      const key = o.key ?? user.key;
      return signTransfer(
        {
          from: privateKeyToAddress(key),
          to: parseAddress(o.to ?? good.to),
          amount: o.amount ?? BigInt(good.amount),
          nonce: o.nonce ?? BigInt(good.nonce),
        },
        key,
        o.network ?? net.network,
      );
    };
    const cases: [string, unknown, string][] = [
      ['short by one base unit', resign({ amount: BigInt(good.amount) - 1n }), 'FEE_TOO_LOW'],
      ["another account's", resign({ key: alice.key }), 'FEE_WRONG'],
      ['paying someone else', resign({ to: keys[0]!.address }), 'FEE_WRONG'],
      ['a nonce ahead', resign({ nonce: BigInt(good.nonce) + 1n }), 'FEE_REFUSED'],
      ['a spent nonce', resign({ nonce: 0n }), 'FEE_REFUSED'],
      ['more than the balance', resign({ amount: 10n ** 24n }), 'FEE_REFUSED'],
      ['for another network', { ...resign({ network: { ...net.network, chainId: 1n } }), chainId: '1' }, 'FEE_REFUSED'],
      ['with a forged signature', { ...good, signature: resign({ key: alice.key }).signature }, 'FEE_REFUSED'],
    ];
    for (const [what, fee, code] of cases) {
      const r = await chat({ model: 'ailo', prompt: PROMPT, maxTokens: 2, fee });
      expect([r.status, r.json?.error?.code], what).toEqual([402, code]);
    }
    // A fee that bought an answer does not buy a second one.
    const served = await Promise.all(keys.slice(0, 3).map((k) => balance(k.address)));
    const paid = await chat({ model: 'ailo', prompt: PROMPT, maxTokens: 2, fee: good });
    expect(paid.events.at(-1)).toMatchObject({ type: 'done' });
    // (Its rewards reach the ledger before the next test reads balances.)
    for (const [i, k] of keys.slice(0, 3).entries())
      await waitFor(`reward of ${k.address}`, async () => ((await balance(k.address)) === served[i]! + SHARE ? true : undefined), 20_000);
    const replay = await chat({ model: 'ailo', prompt: PROMPT, maxTokens: 2, fee: good });
    expect([replay.status, replay.json?.error?.code]).toEqual([402, 'FEE_REFUSED']);
    const after = await account();
    expect(BigInt(after.balance)).toBe(BigInt(before.balance) - BigInt(good.amount));
    expect(BigInt(after.pendingNonce)).toBe(BigInt(before.pendingNonce) + 1n);
  }, 120_000);

  it('a contributor that leaves mid-answer is replaced and the answer completes; it is not paid', async () => {
    const standby = contributor(keys[3]!, node.federation!.modelConfig.n_layer);
    await standby.start();
    const leaver = contributors[1]!;
    const before = await balance(keys[1]!.address);
    // Leave once the answer is under way: three forward passes into it.
    const cancel = stopAfter(leaver, 3);
    const r = await chat({ model: 'ailo', prompt: PROMPT, temperature: 0, maxTokens: 16 });
    cancel();
    expect(r.events.at(-1), JSON.stringify(r.json)).toMatchObject({ type: 'done', tokens: 16 });
    expect(r.events.some((e) => e.type === 'notice')).toBe(true);
    expect(tokensOf(r.events)).toEqual(await expected(PROMPT, 16));
    await waitFor('standby paid', async () => ((await balance(keys[3]!.address)) > 0n ? true : undefined), 20_000);
    expect(await balance(keys[1]!.address)).toBe(before);
  }, 180_000);

  it('a contributor that alters its activations is caught, removed and unpaid', async () => {
    // Replace the first span's holder with a cheater: stop it; the cheater takes its layers.
    const honest = contributors[0]!;
    const layersOfFirst = honest.state.span!.end - honest.state.span!.start;
    honest.stop();
    await honest.closed;
    const cheater = contributor(keys[4]!, layersOfFirst, AlteringContributor);
    await cheater.start();
    await waitServable();
    const before = await balance(keys[4]!.address);
    const r = await chat({ model: 'ailo', prompt: PROMPT, temperature: 0, maxTokens: 4 });
    expect(r.events.at(-1)).toMatchObject({ type: 'done', checked: true });
    await cheater.closed;
    expect(cheater.state.closing?.code).toBe('WRONG_OUTPUT');
    // Its wallet may not come straight back.
    const again = contributor(keys[4]!, layersOfFirst);
    await again.start();
    await again.closed;
    expect(again.state.closing).toMatchObject({
      code: 'BAD_JOIN',
      message: expect.stringMatching(/returned wrong hidden states and may join again at/),
    });
    // Give the ledger time to include anything it might have been paid.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await balance(keys[4]!.address)).toBe(before);
    const models = (await get(`${node.url}/api/inference/models`)).json.models[0];
    expect(models.contributors).toBe(contributors.filter((c) => c.state.phase !== 'closed').length);
  }, 180_000);

  it("serving your own account's request earns nothing, and serving it under other wallets nets nothing", async () => {
    // The chatting account's own wallet contributes the first layers again.
    const self = await fundedChatter(node.url, net.network, alice, 'selfdealer', ALC, keys[0]!.key);
    const own = contributor(keys[0]!, node.federation!.modelConfig.n_layer);
    await own.start();
    await waitServable();
    const before = await balance(keys[0]!.address);
    const r = await chat({ model: 'ailo', prompt: PROMPT, temperature: 0, maxTokens: 3 }, self);
    expect(r.events.at(-1), JSON.stringify(r.json)).toMatchObject({ type: 'done' });
    const fee = BigInt((r.events[0] as { fee: string }).fee);
    const refund = BigInt((r.events.at(-1) as { refund: string }).refund);
    await new Promise((r) => setTimeout(r, 1500));
    // Its own slot earned no reward (its share of the fee came back as a refund); the other slots' holders were paid.
    expect(refund).toBe(SHARE);
    expect(await balance(keys[0]!.address)).toBe(before - fee + refund);
    expect(toChecksumAddress(keys[0]!.address)).toBe(toChecksumAddress(self.address));

    // The attack that fee closes: one person chats from an account and serves every layer from two other wallets, in a
    // loop. Rewards are minted, so without a fee each answer would be pure profit; with it, the three wallets together
    // end where they began (the fee pays exactly the spans that served).
    for (const c of contributors) c.stop();
    await Promise.all(contributors.map((c) => c.closed));
    await waitServable(false);
    const [b, c] = [wallet(406), wallet(407)];
    const layers = node.federation!.modelConfig.n_layer;
    for (const w of [b, c]) await contributor(w, Math.ceil(layers / 2)).start();
    await waitServable();
    const attacker = user;
    const wallets = [userAddress, b.address, c.address];
    const sum = async () => (await Promise.all(wallets.map(balance))).reduce((x, y) => x + y, 0n);
    const start = await sum();
    const rounds = 3;
    for (let i = 0; i < rounds; i++) {
      const out = await chat({ model: 'ailo', prompt: `${PROMPT} ${i}`, temperature: 0, maxTokens: 2 }, attacker);
      expect(out.events.at(-1)).toMatchObject({ type: 'done', contributors: 2 });
    }
    // Every reward is on the ledger (checkRate 1 pays at once): each serving wallet earned one share an answer.
    for (const w of [b, c])
      await waitFor(
        `rewards of ${w.address}`,
        async () => ((await balance(w.address)) === BigInt(rounds) * SHARE ? true : undefined),
        20_000,
      );
    expect(await sum()).toBeLessThanOrEqual(start);
    expect(await sum()).toBe(start);
  }, 180_000);
});
