import { secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, uintToBytes } from '../../protocol/bytes.js';
import { CURVE_N, HALF_N } from '../test/arbitraries.js';
import { recoverBatch } from './recover-core.js';
import { privateKeyToAddress, recoverAddressJs, signatureShapeError, signDigest } from '../../protocol/signature.js';

const arbKey = fc.bigInt(1n, CURVE_N - 1n).map((k) => uintToBytes(k, 32));
const arbDigest = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** The other valid-on-the-curve signature for the same key and digest: s -> n - s, with the recovery bit flipped. */
function highSTwin(sig: Uint8Array): Uint8Array {
  const twin = sig.slice();
  const s = BigInt(toHex(sig.subarray(32, 64)));
  twin.set(uintToBytes(CURVE_N - s, 32), 32);
  twin[64] = sig[64] === 27 ? 28 : 27;
  return twin;
}

describe('secp256k1 signatures', () => {
  it('sign low-s and recover to the signer (pure JS and native agree)', () => {
    fc.assert(
      fc.property(arbKey, arbDigest, (key, digest) => {
        const sig = signDigest(digest, key);
        expect(BigInt(toHex(sig.subarray(32, 64))) <= HALF_N).toBe(true);
        expect(signatureShapeError(sig)).toBeUndefined();
        const address = privateKeyToAddress(key);
        expect(recoverAddressJs(digest, sig)).toBe(address);
        const { addresses, ok } = recoverBatch(digest.slice(), sig.slice());
        expect(ok[0]).toBe(1);
        expect(toHex(addresses)).toBe(address);
      }),
      { numRuns: 100 },
    );
  });

  it('reject the high-s twin that other libraries accept (EIP-2 malleability)', () => {
    fc.assert(
      fc.property(arbKey, arbDigest, (key, digest) => {
        const twin = highSTwin(signDigest(digest, key));
        // the twin is a real signature by the same key: plain ECDSA verification (no low-s rule) accepts it
        expect(secp256k1.verify(twin.subarray(0, 64), digest, secp256k1.getPublicKey(key), { prehash: false, lowS: false })).toBe(true);
        expect(signatureShapeError(twin)).toMatch(/upper half/);
        expect(recoverAddressJs(digest, twin)).toBeNull();
        expect(recoverBatch(digest.slice(), twin).ok[0]).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('reject bad v, zero r or s, and wrong lengths', () => {
    const digest = new Uint8Array(32).fill(7);
    const sig = signDigest(digest, uintToBytes(5n, 32));
    for (const v of [0, 1, 26, 29, 255]) {
      const bad = sig.slice();
      bad[64] = v;
      expect(signatureShapeError(bad)).toMatch(/v must be 27 or 28/);
      expect(recoverAddressJs(digest, bad)).toBeNull();
      expect(recoverBatch(digest.slice(), bad).ok[0]).toBe(0);
    }
    const zeroR = concatBytes(new Uint8Array(32), sig.subarray(32));
    const zeroS = concatBytes(sig.subarray(0, 32), new Uint8Array(32), sig.subarray(64));
    for (const bad of [zeroR, zeroS]) {
      expect(signatureShapeError(bad)).toMatch(/non-zero/);
      expect(recoverAddressJs(digest, bad)).toBeNull();
      expect(recoverBatch(digest.slice(), bad).ok[0]).toBe(0);
    }
    expect(signatureShapeError(sig.subarray(0, 64))).toMatch(/65 bytes/);
    expect(recoverAddressJs(digest, sig.subarray(0, 64))).toBeNull();
  });

  it('s exactly n/2 is accepted and n/2 + 1 is not', () => {
    const sig = new Uint8Array(65);
    sig[31] = 1;
    sig[64] = 27;
    sig.set(uintToBytes(HALF_N, 32), 32);
    expect(signatureShapeError(sig)).toBeUndefined();
    sig.set(uintToBytes(HALF_N + 1n, 32), 32);
    expect(signatureShapeError(sig)).toMatch(/upper half/);
  });
});
