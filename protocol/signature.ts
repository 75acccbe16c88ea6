/**
 * secp256k1 signatures in Ethereum's 65-byte r || s || v form (v = 27 or 28), over 32-byte digests.
 * Pure JS (noble-curves) so it runs in browsers; Node code verifies in bulk through the native pool instead.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { addressFromPublicKey, type Address } from './address.js';
import { bytesToUint } from './bytes.js';

export type Signature = Uint8Array;

const HALF_N = secp256k1.Point.CURVE().n >> 1n;

export function signDigest(digest: Uint8Array, privateKey: Uint8Array): Signature {
  const rec = secp256k1.sign(digest, privateKey, { prehash: false, format: 'recovered', lowS: true });
  const out = new Uint8Array(65);
  out.set(rec.subarray(1), 0);
  out[64] = 27 + rec[0]!;
  return out;
}

/**
 * Rejects what no honest signer produces: wrong length, v other than 27/28, zero or high s (EIP-2),
 * so that a transaction has exactly one valid signature and one hash.
 */
export function signatureShapeError(sig: Uint8Array): string | undefined {
  if (sig.length !== 65) return `signature must be 65 bytes, got ${sig.length}`;
  const v = sig[64]!;
  if (v !== 27 && v !== 28) return `signature v must be 27 or 28, got ${v}`;
  const r = bytesToUint(sig.subarray(0, 32));
  const s = bytesToUint(sig.subarray(32, 64));
  if (r === 0n || s === 0n) return 'signature r and s must be non-zero';
  if (s > HALF_N) return 'signature s is in the upper half of the curve order (EIP-2)';
  return undefined;
}

/** Recovers the signer, or null for a signature that matches no key. Pure JS: slow, use for single checks. */
export function recoverAddressJs(digest: Uint8Array, sig: Signature): Address | null {
  if (signatureShapeError(sig)) return null;
  try {
    const rec = new Uint8Array(65);
    rec[0] = sig[64]! - 27;
    rec.set(sig.subarray(0, 64), 1);
    const pub = secp256k1.recoverPublicKey(rec, digest, { prehash: false });
    return addressFromPublicKey(secp256k1.Point.fromBytes(pub).toBytes(false));
  } catch {
    return null;
  }
}

export function privateKeyToAddress(privateKey: Uint8Array): Address {
  return addressFromPublicKey(secp256k1.getPublicKey(privateKey, false));
}

export function randomPrivateKey(): Uint8Array {
  return secp256k1.utils.randomSecretKey();
}
