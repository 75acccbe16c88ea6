import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { recoverBatch } from '../crypto/recover-core.js';
import { addressFromBytes } from '../../protocol/address.js';
import { decodeRlp, encodeRlp, type RlpItem } from '../encoding/rlp.js';
import { arbAddress, arbTx, arbU256, arbU64, HALF_N } from '../test/arbitraries.js';
import { wallet } from '../test/fixtures.js';
import { decodeTx, encodeTx, signedTx, TxDecodeError } from './codec.js';
import { MAX_CONTRIBUTIONS_PER_VERSION } from './kinds.js';
import { signingDigest } from './eip712.js';
import { signTx } from './sign.js';
import type { Tx } from './types.js';
import { txFieldsJson, txSigner } from './kinds.js';

const network = { chainId: 31337n, genesisHash: `0x${'ab'.repeat(32)}` } as const;

/** The signer each decoded transaction's signature recovers to, via the native batch recovery; null where none. */
function recovered(txs: Tx[]): (string | null)[] {
  const digests = concatBytes(...txs.map((t) => signingDigest(t, network)));
  const sigs = concatBytes(...txs.map((t) => t.signature));
  const { addresses, ok } = recoverBatch(digests, sigs);
  return txs.map((_, i) => (ok[i] ? addressFromBytes(addresses.subarray(i * 20, i * 20 + 20)) : null));
}

/** Rebuilds an encoded transaction with its RLP body edited. */
function withBody(bytes: Uint8Array, edit: (fields: RlpItem[]) => RlpItem[]): Uint8Array {
  const fields = decodeRlp(bytes.subarray(1)) as RlpItem[];
  return concatBytes(bytes.subarray(0, 1), encodeRlp(edit([...fields])));
}

describe('transaction codec', () => {
  it('round trips random valid transactions of all four types, with a stable hash', () => {
    fc.assert(
      fc.property(arbTx, (tx) => {
        const bytes = encodeTx(tx);
        const decoded = decodeTx(bytes);
        expect(decoded.tx).toEqual(tx);
        expect(toHex(encodeTx(decoded.tx))).toBe(toHex(bytes));
        expect(decoded.hash).toBe(toHex(keccak256(bytes)));
        expect(decoded.hash).toBe(signedTx(tx).hash);
      }),
      { numRuns: 600 },
    );
  });

  it('gives different transactions different encodings', () => {
    fc.assert(
      fc.property(arbTx, arbTx, (a, b) => {
        fc.pre(
          JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toHex(v) : v)) !==
            JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toHex(v) : v)),
        );
        expect(toHex(encodeTx(a))).not.toBe(toHex(encodeTx(b)));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects integers with leading zeros, unknown types, wrong field counts and trailing bytes', () => {
    const t = signTx(
      { type: 'transfer', from: wallet(2).address, to: wallet(3).address, amount: 1000n, nonce: 1n },
      wallet(2).key,
      network,
    );
    expect(() =>
      decodeTx(withBody(t.bytes, (f) => [f[0]!, f[1]!, concatBytes(Uint8Array.of(0), f[2] as Uint8Array), f[3]!, f[4]!])),
    ).toThrow(/amount.*leading zero/);
    expect(() => decodeTx(withBody(t.bytes, (f) => [f[0]!, f[1]!, f[2]!, Uint8Array.of(0, 1), f[4]!]))).toThrow(/nonce.*leading zero/);
    expect(() => decodeTx(withBody(t.bytes, (f) => f.slice(0, 4)))).toThrow(/expected 5 fields/);
    expect(() => decodeTx(withBody(t.bytes, (f) => [...f, new Uint8Array(0)]))).toThrow(/expected 5 fields/);
    expect(() => decodeTx(withBody(t.bytes, (f) => [f[0]!, f[1]!, f[2]!, new Uint8Array(9).fill(1), f[4]!]))).toThrow(/nonce/);
    expect(() => decodeTx(withBody(t.bytes, (f) => [new Uint8Array(19), ...f.slice(1)]))).toThrow(/from/);
    expect(() => decodeTx(concatBytes(Uint8Array.of(0x06), t.bytes.subarray(1)))).toThrow(/unknown transaction type/);
    expect(() => decodeTx(concatBytes(t.bytes, Uint8Array.of(0)))).toThrow(TxDecodeError);
    expect(() => decodeTx(new Uint8Array(0))).toThrow(TxDecodeError);
  });

  it('rejects a model version naming more than the allowed number of contributions', () => {
    const contributions = Array.from({ length: MAX_CONTRIBUTIONS_PER_VERSION + 1 }, (_, i) =>
      toHex(keccak256(Uint8Array.of(i & 0xff, i >> 8))),
    );
    const tx: Tx = {
      type: 'model_version',
      coordinator: wallet(1).address,
      version: 1n,
      parentVersion: 0n,
      manifestDigest: contributions[0]!,
      contributions,
      outerLrPpm: 900_000,
      momentumRestart: false,
      signature: signTx({ type: 'transfer', from: wallet(1).address, to: wallet(1).address, amount: 1n, nonce: 0n }, wallet(1).key, network)
        .tx.signature,
    };
    expect(() => decodeTx(encodeTx(tx))).toThrow(/more than 1024 contributions/);
    expect(decodeTx(encodeTx({ ...tx, contributions: contributions.slice(0, MAX_CONTRIBUTIONS_PER_VERSION) })).tx).toMatchObject({
      version: 1n,
    });
  });

  it('reads an inference span as a number, refusing one beyond 2^53 - 1', () => {
    const r = signTx(
      {
        type: 'inference_reward',
        coordinator: wallet(1).address,
        node: wallet(2).address,
        requestId: `0x${'aa'.repeat(32)}`,
        spanStart: 0,
        spanEnd: Number.MAX_SAFE_INTEGER,
        shares: 1n,
        reward: 1n,
      },
      wallet(1).key,
      network,
    );
    expect(decodeTx(r.bytes).tx).toMatchObject({ spanStart: 0, spanEnd: Number.MAX_SAFE_INTEGER });
    expect(txFieldsJson(r.tx)).toMatchObject({ spanStart: 0, spanEnd: Number.MAX_SAFE_INTEGER, shares: '1', reward: '1' });
    const tooFar = (f: RlpItem[]): RlpItem[] => [f[0]!, f[1]!, f[2]!, f[3]!, fromHex('0x20000000000000'), ...f.slice(5)];
    expect(() => decodeTx(withBody(r.bytes, tooFar))).toThrow(/spanEnd 9007199254740992 is larger than 9007199254740991/);
    expect(() => decodeTx(withBody(r.bytes, (f) => [f[0]!, f[1]!, f[2]!, new Uint8Array(9).fill(1), ...f.slice(4)]))).toThrow(/spanStart/);
  });

  it('never throws anything but TxDecodeError on random bytes after a valid type byte', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 200 }), (type, body) => {
        try {
          decodeTx(concatBytes(Uint8Array.of(type), body));
        } catch (err) {
          expect(err).toBeInstanceOf(TxDecodeError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('tamper detection', () => {
  const alice = wallet(2);
  const flips = (bytes: Uint8Array, index: number, mask: number): Uint8Array => {
    const out = bytes.slice();
    out[index]! ^= mask;
    return out;
  };
  /** A flipped transfer must fail to decode or carry a signature that no longer recovers to its `from`. */
  const check = (original: Uint8Array, tampered: Uint8Array[]): void => {
    const decoded: Tx[] = [];
    for (const bytes of tampered) {
      try {
        const d = decodeTx(bytes);
        expect(d.hash).not.toBe(toHex(keccak256(original)));
        decoded.push(d.tx);
      } catch (err) {
        expect(err).toBeInstanceOf(TxDecodeError);
      }
    }
    const signers = recovered(decoded);
    decoded.forEach((tx, i) => expect(signers[i]).not.toBe(txSigner(tx)));
  };

  it('catches every single-bit flip of every byte of a signed transfer', () => {
    const t = signTx(
      { type: 'transfer', from: alice.address, to: wallet(3).address, amount: 123_456_789n, nonce: 42n },
      alice.key,
      network,
    );
    expect(recovered([t.tx])).toEqual([alice.address]);
    const tampered: Uint8Array[] = [];
    for (let i = 0; i < t.bytes.length; i++) for (let bit = 0; bit < 8; bit++) tampered.push(flips(t.bytes, i, 1 << bit));
    check(t.bytes, tampered);
  });

  it('catches any byte flip of random signed transfers', () => {
    fc.assert(
      fc.property(
        arbAddress,
        arbU256.filter((a) => a > 0n),
        arbU64,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (to, amount, nonce, at, mask) => {
          const t = signTx({ type: 'transfer', from: alice.address, to, amount, nonce }, alice.key, network);
          check(t.bytes, [flips(t.bytes, at % t.bytes.length, mask)]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses the high-s twin of a valid signature in the codec', () => {
    const t = signTx({ type: 'transfer', from: alice.address, to: wallet(3).address, amount: 5n, nonce: 0n }, alice.key, network);
    const sig = t.tx.signature;
    const s = BigInt(toHex(sig.subarray(32, 64)));
    expect(s <= HALF_N).toBe(true);
    const twin = sig.slice();
    twin.set(
      fromHex('0x' + (0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n - s).toString(16).padStart(64, '0'), 32),
      32,
    );
    twin[64] = sig[64] === 27 ? 28 : 27;
    expect(() => decodeTx(encodeTx({ ...t.tx, signature: twin }))).toThrow(/upper half/);
  });
});
