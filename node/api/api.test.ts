import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../protocol/bytes.js';
import { verifyMerkleProof } from '../../chain/merkle.js';
import { ALC } from '../../chain/spec.js';
import type { AiloNode } from '../node.js';
import {
  alice,
  bob,
  CHAIN_ID,
  get,
  post,
  signedTransfer,
  startTestNode,
  testNet,
  waitFor,
  waitQuiet,
  type TestNet,
} from '../test/harness.js';

describe('node HTTP API', () => {
  let net: TestNet;
  let node: AiloNode;
  let url: string;

  beforeAll(async () => {
    net = testNet();
    node = await startTestNode(net);
    url = node.url;
  });
  afterAll(async () => {
    await node.stop();
    net.remove();
  });

  const transfer = (body: unknown) => post(`${url}/api/ledger/transfer`, body);
  const account = async (a: string) => (await get(`${url}/api/ledger/account/${a}`)).json;
  const confirmed = (hash: string) =>
    waitFor(`${hash} in a block`, async () => {
      const r = await get(`${url}/api/ledger/tx/${hash}`);
      return r.json.status === 'confirmed' ? r.json : undefined;
    });

  it('reports status with the seed fields, the head and the chain id', async () => {
    const { status, json } = await get(`${url}/api/status`);
    expect(status).toBe(200);
    expect(json).toMatchObject({
      activeNodes: 1,
      globalHashrate: '0.0 Tok/s',
      globalModelVersion: 0,
      isNetworkActive: false,
      chainId: '777',
      targetParams: 821_470_400,
    });
    expect(json.genesisHash).toBe(net.network.genesisHash);
    expect(json.genesisHash).toBe((await get(`${url}/api/chain/block/0`)).json.hash);
    expect(typeof json.globalParams).toBe('number');
    expect(json.head.height).toBe('0');
  });

  it('accepts a wallet-signed transfer with 202, seals it, and serves it with a Merkle proof and in both histories', async () => {
    const body = await signedTransfer(102, bob.address, 3n * ALC, 0n, net.network);
    const sent = await transfer(body);
    expect(sent.status).toBe(202);
    expect(sent.json.status).toBe('pending');
    const tx = await confirmed(sent.json.hash);
    expect(tx.tx).toMatchObject({ type: 'transfer', amount: (3n * ALC).toString(), nonce: '0' });
    expect(verifyMerkleProof(fromHex(sent.json.hash, 32), tx.proof, fromHex(tx.txRoot, 32))).toBe(true);
    expect(await account(bob.address)).toMatchObject({ balance: (3n * ALC).toString(), nonce: '0' });
    expect(await account(alice.address)).toMatchObject({ balance: (997n * ALC).toString(), nonce: '1', pendingNonce: '1' });
    for (const who of [alice.address, bob.address]) {
      const h = await get(`${url}/api/ledger/history/${who}`);
      expect(h.json.items.map((i: { tx: { hash: string } }) => i.tx.hash)).toContain(sent.json.hash);
    }
    const block = await get(`${url}/api/chain/block/${tx.height}`);
    expect(block.json.txs[0].hash).toBe(sent.json.hash);
    const blocks = await get(`${url}/api/chain/blocks?from=0&limit=10`);
    expect(blocks.json.blocks.length).toBe(Number(blocks.json.head) + 1);
  });

  it('serves Prometheus metrics, liveness and readiness', async () => {
    // No block in flight (a finalizing block may still follow the last transfer) between the two reads below.
    await waitQuiet(url);
    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const height = (await get(`${url}/api/chain/head`)).json.height;
    expect(text).toMatch(new RegExp(`^ailo_head_height ${height}$`, 'm'));
    expect(text).toMatch(/^# TYPE ailo_txs_applied_total counter$/m);
    // prom-client's standard process and Node.js metrics come with them.
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds [\d.e-]+$/m);
    expect((await get(`${url}/healthz`)).json.status).toBe('ok');
    expect((await get(`${url}/readyz`)).json.status).toBe('ready');
  });

  it('takes chainId in the forms Ethereum tools send: 0x hex (eth_chainId), a JSON number, a decimal string', async () => {
    const nonce = BigInt((await account(alice.address)).pendingNonce);
    const forms: unknown[] = [`0x${CHAIN_ID.toString(16)}`, Number(CHAIN_ID), CHAIN_ID.toString()];
    let last = '';
    for (const [i, chainId] of forms.entries()) {
      const r = await transfer({ ...(await signedTransfer(102, bob.address, 1n, nonce + BigInt(i), net.network)), chainId });
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      last = r.json.hash;
    }
    await confirmed(last);
  });

  it('pages history newest first with a cursor', async () => {
    const before = Number((await account(alice.address)).pendingNonce);
    const hashes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await transfer(await signedTransfer(102, bob.address, BigInt(i + 1), BigInt(before + i), net.network));
      expect(r.status).toBe(202);
      hashes.push(r.json.hash);
    }
    await confirmed(hashes.at(-1)!);
    const first = await get(`${url}/api/ledger/history/${alice.address}?limit=2`);
    expect(first.json.items.map((i: { tx: { hash: string } }) => i.tx.hash)).toEqual([hashes[4], hashes[3]]);
    const second = await get(`${url}/api/ledger/history/${alice.address}?limit=2&before=${first.json.next}`);
    expect(second.json.items.map((i: { tx: { hash: string } }) => i.tx.hash)).toEqual([hashes[2], hashes[1]]);
  });

  describe('bad input gets a clear 4xx and changes nothing', () => {
    const cases: [string, () => Promise<{ status: number; json: any }>, number, string][] = [
      ['malformed JSON', () => post(`${url}/api/ledger/transfer`, '{"from": '), 400, 'BAD_JSON'],
      ['a JSON array', () => post(`${url}/api/ledger/transfer`, '[]'), 400, 'BAD_JSON'],
      [
        'a form body',
        () => post(`${url}/api/ledger/transfer`, 'a=b', { 'content-type': 'application/x-www-form-urlencoded' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['an oversized body', () => post(`${url}/api/ledger/transfer`, JSON.stringify({ pad: 'x'.repeat(100_000) })), 413, 'BODY_TOO_LARGE'],
      [
        'an unknown field',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), memo: 'hi' }),
        400,
        'BAD_REQUEST',
      ],
      [
        'a wrong-typed amount',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), amount: 5 }),
        400,
        'BAD_AMOUNT',
      ],
      [
        'a negative amount',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), amount: '-5' }),
        400,
        'BAD_AMOUNT',
      ],
      [
        'an amount over 2^256',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), amount: (1n << 256n).toString() }),
        400,
        'BAD_AMOUNT',
      ],
      ['a zero amount', async () => transfer(await signedTransfer(102, bob.address, 0n, 99n, net.network)), 400, 'TX_BAD_AMOUNT'],
      [
        'a bad address checksum',
        async () => {
          const b = await signedTransfer(102, bob.address, 1n, 99n, net.network);
          const flipped = b.from.replace(/[a-f]/, (c) => c.toUpperCase()).replace(/[A-F](?=[^A-F]*$)/, (c) => c.toLowerCase());
          return transfer({ ...b, from: flipped === b.from ? b.from.toLowerCase().replace('0x', '0X') : flipped });
        },
        400,
        'BAD_ADDRESS',
      ],
      [
        'a malformed signature',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), signature: '0x1234' }),
        400,
        'TX_BAD_SIGNATURE',
      ],
      [
        'a signature by someone else',
        async () => transfer({ ...(await signedTransfer(103, bob.address, 1n, 1n, net.network)), from: alice.address }),
        400,
        'TX_BAD_SIGNATURE',
      ],
      [
        'a signature for another chainId',
        async () => transfer(await signedTransfer(102, bob.address, 1n, 99n, { ...net.network, chainId: CHAIN_ID + 1n })),
        400,
        'TX_WRONG_CHAIN',
      ],
      [
        'a signature for another chainId, not naming it',
        async () => {
          const {
            chainId: _,
            genesisHash: __,
            ...bare
          } = await signedTransfer(102, bob.address, 1n, 99n, { ...net.network, chainId: CHAIN_ID + 1n });
          return transfer(bare);
        },
        400,
        'TX_BAD_SIGNATURE',
      ],
      [
        'a malformed genesisHash field',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), genesisHash: '0x12' }),
        400,
        'BAD_HASH',
      ],
      [
        'a mismatched chainId field',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), chainId: '1' }),
        400,
        'TX_WRONG_CHAIN',
      ],
      [
        'a mismatched hex chainId field',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), chainId: '0x1' }),
        400,
        'TX_WRONG_CHAIN',
      ],
      // An array that stringifies to the right id was accepted (issue 17): a chainId is a number, never coerced.
      [
        'a chainId in an array',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), chainId: [Number(CHAIN_ID)] }),
        400,
        'BAD_REQUEST',
      ],
      [
        'a chainId of "0x"',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 99n, net.network)), chainId: '0x' }),
        400,
        'BAD_REQUEST',
      ],
      ['a used nonce', async () => transfer(await signedTransfer(102, bob.address, 2n * ALC, 0n, net.network)), 409, 'TX_BAD_NONCE'],
      [
        'a replayed transaction',
        async () => transfer(await signedTransfer(102, bob.address, 3n * ALC, 0n, net.network)),
        409,
        'TX_DUPLICATE',
      ],
      ['a nonce gap', async () => transfer(await signedTransfer(102, bob.address, 1n, 1000n, net.network)), 409, 'TX_NONCE_GAP'],
      [
        'a nonce over 64 bits',
        async () => transfer({ ...(await signedTransfer(102, bob.address, 1n, 0n, net.network)), nonce: (1n << 64n).toString() }),
        400,
        'BAD_REQUEST',
      ],
      [
        'an overdraft',
        async () => transfer(await signedTransfer(103, alice.address, 1_000_000n * ALC, 0n, net.network)),
        422,
        'TX_INSUFFICIENT_BALANCE',
      ],
      ['an unknown route', () => get(`${url}/api/nope`), 404, 'NOT_FOUND'],
      ['a bad account address', () => get(`${url}/api/ledger/account/0x12`), 400, 'BAD_ADDRESS'],
      ['a bad tx hash', () => get(`${url}/api/ledger/tx/xyz`), 400, 'BAD_HASH'],
      ['an unknown tx', () => get(`${url}/api/ledger/tx/0x${'ab'.repeat(32)}`), 404, 'NOT_FOUND'],
      ['a bad history cursor', () => get(`${url}/api/ledger/history/${alice.address}?before=zz`), 400, 'BAD_REQUEST'],
      ['a bad block range', () => get(`${url}/api/chain/blocks?from=-1`), 400, 'BAD_REQUEST'],
      ['a huge block limit', () => get(`${url}/api/chain/blocks?limit=100000`), 400, 'BAD_REQUEST'],
      ['a bad block id', () => get(`${url}/api/chain/block/latest`), 400, 'BAD_REQUEST'],
      // Numbers past what a field holds (issue 17: these were 500 RangeError).
      ['a block height of 2^64', () => get(`${url}/api/chain/block/18446744073709551616`), 400, 'BAD_REQUEST'],
      ['a block height of 30 digits', () => get(`${url}/api/chain/block/${'9'.repeat(30)}`), 400, 'BAD_REQUEST'],
      [
        'a cursor height of 2^64',
        () => get(`${url}/api/ledger/history/${alice.address}?before=18446744073709551616:0`),
        400,
        'BAD_REQUEST',
      ],
      [
        'a cursor height of 20 nines',
        () => get(`${url}/api/ledger/history/${alice.address}?before=99999999999999999999:1`),
        400,
        'BAD_REQUEST',
      ],
      ['a cursor index of 2^32', () => get(`${url}/api/ledger/history/${alice.address}?before=1:4294967296`), 400, 'BAD_REQUEST'],
      ['a range start of 2^64', () => get(`${url}/api/chain/blocks?from=18446744073709551616`), 400, 'BAD_REQUEST'],
      ['a limit of 2^64', () => get(`${url}/api/chain/blocks?limit=18446744073709551616`), 400, 'BAD_REQUEST'],
    ];
    it.each(cases)('%s', async (_name, request, status, code) => {
      await waitQuiet(url);
      const head = (await get(`${url}/api/chain/head`)).json.hash;
      const aliceBefore = await account(alice.address);
      const pending = (await get(`${url}/api/status`)).json.pendingTransactions;
      const r = await request();
      expect(r.status).toBe(status);
      expect(r.json.error.code).toBe(code);
      expect(typeof r.json.error.message).toBe('string');
      expect((await get(`${url}/api/status`)).json.pendingTransactions).toBe(pending);
      expect((await get(`${url}/api/chain/head`)).json.hash).toBe(head);
      expect(await account(alice.address)).toEqual(aliceBefore);
    });

    it('names the range an out-of-range limit must be in, not "an integer"', async () => {
      expect((await get(`${url}/api/chain/blocks?limit=18446744073709551616`)).json.error.message).toBe(
        'limit must be from 1 to 500, got 18446744073709551616',
      );
      expect((await get(`${url}/api/chain/blocks?limit=1.5`)).json.error.message).toBe(
        'limit must be a whole number from 1 to 500, got "1.5"',
      );
    });
  });

  it('refuses a duplicate while it is pending and once it is in a block', async () => {
    const body = await signedTransfer(102, bob.address, 1n, BigInt((await account(alice.address)).pendingNonce), net.network);
    const first = await transfer(body);
    expect(first.status).toBe(202);
    const pendingAgain = await transfer(body);
    expect(pendingAgain.status).toBe(409);
    expect(pendingAgain.json.error.code).toBe('TX_DUPLICATE');
    await confirmed(first.json.hash);
    const sealedAgain = await transfer(body);
    expect(sealedAgain.status).toBe(409);
    expect(sealedAgain.json.error.code).toBe('TX_DUPLICATE');
  });
});
