import { Signature, TypedDataEncoder, Wallet, verifyTypedData } from 'ethers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Address } from '../../protocol/address.js';
import { fromHex, toHex, type Hex } from '../../protocol/bytes.js';
import { arbAddress, arbHash, arbNetwork, arbU64, CURVE_N } from '../test/arbitraries.js';
import { testKey, wallet } from '../test/fixtures.js';
import { eip712Domain, type NetworkDomain } from './eip712.js';
import {
  INFERENCE_JOIN_TYPES,
  inferenceJoinDigest,
  inferenceJoinScheme,
  parseSignedInferenceJoin,
  parseSignedTaskRequest,
  recoverInferenceJoinSigner,
  recoverTaskRequestSigner,
  signInferenceJoin,
  signTaskRequest,
  TASK_REQUEST_TYPES,
  taskRequestDigest,
  taskRequestScheme,
  verifyInferenceJoin,
  walletRequestMessage,
  type InferenceJoin,
  type TaskRequest,
} from './task-request.js';
import type { SignedTaskRequestBody } from '../../protocol/federation.js';

/** A network with chainId 777 (the node tests' chain), and a second one that shares the chainId but not the genesis. */
const NET: NetworkDomain = { chainId: 777n, genesisHash: `0x${'77'.repeat(32)}` };
const TWIN: NetworkDomain = { chainId: 777n, genesisHash: `0x${'78'.repeat(32)}` };
const arbRequest: fc.Arbitrary<TaskRequest> = fc.record({ wallet: arbAddress, coordinator: arbAddress, issuedAt: arbU64, nonce: arbHash });
/** The coordinator the requests below are for. */
const COORD = wallet(101).address;
const types = { TaskRequest: [...TASK_REQUEST_TYPES.TaskRequest] };

/** The signer the node would see for a POST body, or null where the body does not parse or the signature matches no key. */
function signerOf(body: SignedTaskRequestBody, network: NetworkDomain): Address | null {
  const parsed = parseSignedTaskRequest(body);
  if (!parsed.ok) return null;
  return recoverTaskRequestSigner(parsed.request, parsed.signature, network);
}

describe('task request typed data', () => {
  it('the digest equals ethers TypedDataEncoder.hash over the transfer domain, for random requests and networks', () => {
    fc.assert(
      fc.property(arbRequest, arbNetwork, (req, network) => {
        expect(toHex(taskRequestDigest(req, network))).toBe(TypedDataEncoder.hash(eip712Domain(network), types, walletRequestMessage(req)));
      }),
      { numRuns: 300 },
    );
    expect(TypedDataEncoder.from(types).encodeType('TaskRequest')).toBe(
      'TaskRequest(address wallet,address coordinator,uint64 issuedAt,bytes32 nonce)',
    );
  });

  it('matches a fixed vector', () => {
    const req: TaskRequest = {
      wallet: wallet(102).address,
      coordinator: COORD,
      issuedAt: 1_760_000_000_000n,
      nonce: `0x${'ab'.repeat(32)}`,
    };
    const digest = toHex(taskRequestDigest(req, NET));
    expect(digest).toBe(TypedDataEncoder.hash(eip712Domain(NET), types, walletRequestMessage(req)));
    expect(digest).toBe('0x98d99c32bece80d88ad8ff658c8d09a5d65864aa807957e708881429d9fd9796');
  });

  it('a signature from ethers Wallet.signTypedData (as eth_signTypedData_v4 makes) verifies to the wallet', async () => {
    await fc.assert(
      fc.asyncProperty(fc.bigInt(1n, CURVE_N - 1n), arbU64, arbHash, arbNetwork, async (key, issuedAt, nonce, network) => {
        const w = new Wallet(toHex(fromHex('0x' + key.toString(16).padStart(64, '0'), 32)));
        const message = { wallet: w.address, coordinator: COORD, issuedAt, nonce };
        const signature = await w.signTypedData(eip712Domain(network), types, message);
        const body = { wallet: w.address, coordinator: COORD, issuedAt: issuedAt.toString(), nonce, signature };
        expect(signerOf(body, network)).toBe(w.address.toLowerCase());
        // the same signature on another chain, or another genesis with the same chainId, recovers to someone else
        expect(signerOf(body, { ...network, chainId: network.chainId === 1n ? 2n : network.chainId - 1n })).not.toBe(
          w.address.toLowerCase(),
        );
        expect(
          signerOf(body, { ...network, genesisHash: network.genesisHash === NET.genesisHash ? TWIN.genesisHash : NET.genesisHash }),
        ).not.toBe(w.address.toLowerCase());
      }),
      { numRuns: 30 },
    );
  });

  it('signTaskRequest makes a fresh request that ethers verifyTypedData attributes to the key', () => {
    const key = testKey(7);
    const a = signTaskRequest(key, NET, COORD, 1_760_000_000_000);
    const b = signTaskRequest(key, NET, COORD, 1_760_000_000_000);
    expect(a.wallet).toBe(wallet(7).address);
    expect(a.issuedAt).toBe('1760000000000');
    expect(a.nonce).toMatch(/^0x[0-9a-f]{64}$/);
    expect(b.nonce).not.toBe(a.nonce);
    const message = { wallet: a.wallet, coordinator: a.coordinator, issuedAt: BigInt(a.issuedAt), nonce: a.nonce };
    expect(verifyTypedData(eip712Domain(NET), types, message, a.signature).toLowerCase()).toBe(wallet(7).address);
    expect(signerOf(a, NET)).toBe(wallet(7).address);
  });

  it('changing any field (the coordinator too), the chain, the genesis or any signature byte breaks the signature', () => {
    const key = testKey(9);
    const who = wallet(9).address;
    const signed = signTaskRequest(key, NET, COORD, 1_760_000_000_000);
    const flip = (hex: string, at: number): string => {
      const b = fromHex(hex);
      b[at]! ^= 1;
      return toHex(b);
    };
    fc.assert(
      fc.property(fc.nat(31), fc.nat(19), fc.nat(63), fc.bigInt(1n, 1n << 40n), (nonceByte, walletByte, sigByte, dt) => {
        const tampered: SignedTaskRequestBody[] = [
          { ...signed, wallet: flip(signed.wallet, walletByte) },
          { ...signed, coordinator: flip(signed.coordinator, walletByte) },
          { ...signed, issuedAt: (BigInt(signed.issuedAt) + dt).toString() },
          { ...signed, issuedAt: (BigInt(signed.issuedAt) - dt).toString() },
          { ...signed, nonce: flip(signed.nonce, nonceByte) },
          { ...signed, signature: flip(signed.signature, sigByte) },
        ];
        for (const body of tampered) expect(signerOf(body, NET)).not.toBe(who);
        // the untouched request still verifies, so the refusals above are the tampering's doing
        expect(signerOf(signed, NET)).toBe(who);
      }),
      { numRuns: 100 },
    );
    expect(signerOf(signed, { ...NET, chainId: 778n })).not.toBe(who);
    expect(signerOf(signed, TWIN)).not.toBe(who);
    // naming another wallet with one's own signature recovers to the signer, not to the wallet named
    expect(signerOf({ ...signed, wallet: wallet(10).address }, NET)).not.toBe(wallet(10).address);
  });

  it('reads v as 0/1 as well as 27/28, and refuses a high-s twin (EIP-2)', () => {
    const signed = signTaskRequest(testKey(11), NET, COORD);
    const sig = Signature.from(signed.signature);
    const v01 = fromHex(signed.signature);
    v01[64] = sig.yParity;
    expect(signerOf({ ...signed, signature: toHex(v01) }, NET)).toBe(wallet(11).address);
    const highS = fromHex(signed.signature);
    highS.set(fromHex('0x' + (CURVE_N - BigInt(sig.s)).toString(16).padStart(64, '0'), 32), 32);
    highS[64] = highS[64] === 27 ? 28 : 27;
    expect(signerOf({ ...signed, signature: toHex(highS) }, NET)).toBeNull();
  });

  it('parses only well-formed bodies, naming the field', () => {
    const good = signTaskRequest(testKey(12), NET, COORD);
    const cases: [unknown, string][] = [
      [null, 'body'],
      [[good], 'body'],
      ['x', 'body'],
      [{ ...good, wallet: undefined }, 'wallet'],
      [{ ...good, wallet: '0x1234' }, 'wallet'],
      [{ ...good, coordinator: undefined }, 'coordinator'],
      [{ ...good, coordinator: 'nobody' }, 'coordinator'],
      [{ ...good, issuedAt: undefined }, 'issuedAt'],
      [{ ...good, issuedAt: 1760000000000 }, 'issuedAt'],
      [{ ...good, issuedAt: '-1' }, 'issuedAt'],
      [{ ...good, issuedAt: '1e12' }, 'issuedAt'],
      [{ ...good, issuedAt: (1n << 64n).toString() }, 'issuedAt'],
      [{ ...good, nonce: undefined }, 'nonce'],
      [{ ...good, nonce: '0x' + '00'.repeat(31) }, 'nonce'],
      [{ ...good, nonce: 'ab'.repeat(32) }, 'nonce'],
      [{ ...good, signature: undefined }, 'signature'],
      [{ ...good, signature: good.signature.slice(0, -2) }, 'signature'],
    ];
    for (const [body, field] of cases) {
      const r = parseSignedTaskRequest(body);
      expect(r.ok ? 'ok' : r.field).toBe(field);
    }
    const ok = parseSignedTaskRequest({ ...good, nonce: good.nonce.toUpperCase().replace('0X', '0x') });
    expect(ok.ok && ok.request.nonce).toBe(good.nonce as Hex);
  });
});

describe('inference join typed data', () => {
  const joinTypes = { InferenceJoin: [...INFERENCE_JOIN_TYPES.InferenceJoin] };
  const joinSignerOf = (body: SignedTaskRequestBody, network: NetworkDomain): Address | null => {
    const parsed = parseSignedInferenceJoin(body);
    return parsed.ok ? recoverInferenceJoinSigner(parsed.request, parsed.signature, network) : null;
  };

  it('the digest equals ethers TypedDataEncoder.hash, and differs from the task request digest of the same fields', () => {
    fc.assert(
      fc.property(arbRequest, arbNetwork, (req, network) => {
        const digest = toHex(inferenceJoinDigest(req, network));
        expect(digest).toBe(TypedDataEncoder.hash(eip712Domain(network), joinTypes, walletRequestMessage(req)));
        expect(digest).not.toBe(toHex(taskRequestDigest(req, network)));
      }),
      { numRuns: 300 },
    );
    expect(TypedDataEncoder.from(joinTypes).encodeType('InferenceJoin')).toBe(
      'InferenceJoin(address wallet,address coordinator,uint64 issuedAt,bytes32 nonce)',
    );
  });

  it('matches a fixed vector', () => {
    const join: InferenceJoin = {
      wallet: wallet(102).address,
      coordinator: COORD,
      issuedAt: 1_760_000_000_000n,
      nonce: `0x${'ab'.repeat(32)}`,
    };
    const digest = toHex(inferenceJoinDigest(join, NET));
    expect(digest).toBe(TypedDataEncoder.hash(eip712Domain(NET), joinTypes, walletRequestMessage(join)));
    expect(digest).toBe('0xcc65e139463d063020b34dfb4013ac6992b10ae4dbc84e7f1d5f26e42a377344');
  });

  it('signInferenceJoin makes a fresh join that ethers verifyTypedData attributes to the key, and verifyInferenceJoin accepts', () => {
    const key = testKey(7);
    const a = signInferenceJoin(key, NET, COORD, 1_760_000_000_000);
    const b = signInferenceJoin(key, NET, COORD, 1_760_000_000_000);
    expect(Object.keys(a).sort()).toEqual(['coordinator', 'issuedAt', 'nonce', 'signature', 'wallet']);
    expect([a.wallet, a.coordinator, a.issuedAt]).toEqual([wallet(7).address, COORD, '1760000000000']);
    expect(b.nonce).not.toBe(a.nonce);
    const message = { wallet: a.wallet, coordinator: a.coordinator, issuedAt: BigInt(a.issuedAt), nonce: a.nonce };
    expect(verifyTypedData(eip712Domain(NET), joinTypes, message, a.signature).toLowerCase()).toBe(wallet(7).address);
    const verified = verifyInferenceJoin(a, NET, COORD);
    expect(verified.ok && verified.request).toEqual({
      wallet: wallet(7).address,
      coordinator: COORD,
      issuedAt: 1_760_000_000_000n,
      nonce: a.nonce,
    });
  });

  it('a join signature never verifies as a task request, nor a task request signature as a join', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), arbNetwork, (n, network) => {
        const who = wallet(n).address;
        const join = signInferenceJoin(testKey(n), network, COORD);
        const task = signTaskRequest(testKey(n), network, COORD);
        expect(joinSignerOf(join, network)).toBe(who);
        expect(signerOf(task, network)).toBe(who);
        // the same bytes under the other primary type recover to someone else
        expect(signerOf(join, network)).not.toBe(who);
        expect(joinSignerOf(task, network)).not.toBe(who);
        const asTask = taskRequestScheme.verify(join, network, COORD);
        const asJoin = inferenceJoinScheme.verify(task, network, COORD);
        expect([asTask.ok, !asTask.ok && asTask.field]).toEqual([false, 'signature']);
        expect([asJoin.ok, !asJoin.ok && asJoin.field]).toEqual([false, 'signature']);
        expect(verifyInferenceJoin(join, network, COORD).ok).toBe(true);
        expect(taskRequestScheme.verify(task, network, COORD).ok).toBe(true);
      }),
      { numRuns: 20 },
    );
  });

  it('verifyInferenceJoin refuses a join for another coordinator, another network, a tampered field or a malformed body', () => {
    const signed = signInferenceJoin(testKey(9), NET, COORD, 1_760_000_000_000);
    const refusal = (body: unknown, network = NET, coordinator = COORD): string => {
      const r = verifyInferenceJoin(body, network, coordinator);
      return r.ok ? 'ok' : `${r.field}: ${r.message}`;
    };
    expect(refusal(signed)).toBe('ok');
    expect(refusal(signed, NET, wallet(102).address)).toBe(
      `coordinator: the inference join is signed for coordinator ${COORD}, and this is coordinator ${wallet(102).address}: ` +
        'sign it for the coordinator GET /api/status names here',
    );
    expect(refusal(signed, TWIN)).toMatch(
      /^signature: the inference join is not signed by 0x[0-9a-f]{40} for this network \(chainId 777, genesis 0x7878/,
    );
    expect(refusal(signed, { ...NET, chainId: 778n })).toMatch(/^signature: .*sign the InferenceJoin typed data/);
    expect(refusal({ ...signed, issuedAt: '1760000000001' })).toMatch(/^signature: /);
    expect(refusal({ ...signed, wallet: wallet(10).address })).toMatch(/^signature: /);
    expect(refusal({ ...signed, nonce: 'ab' })).toMatch(/^nonce: /);
    expect(refusal(null)).toMatch(/^body: /);
  });
});
