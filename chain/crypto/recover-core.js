// @ts-check
/**
 * Bulk secp256k1 public-key recovery over packed buffers, shared by the worker threads and the main thread.
 * Plain JavaScript so a worker thread can load it without a TypeScript loader.
 * Uses native libsecp256k1 (the `secp256k1` package's prebuilt binding) and falls back to noble-curves
 * only where the native module cannot load.
 */
import { createRequire } from 'node:module';
import { createKeccak } from 'hash-wasm';
import { secp256k1 as noble } from '@noble/curves/secp256k1.js';

const require = createRequire(import.meta.url);
/** @type {{ ecdsaRecover(sig: Uint8Array, recid: number, msg: Uint8Array, compressed: boolean, out?: Uint8Array): Uint8Array } | null} */
let native = null;
try {
  native = require('secp256k1/bindings.js');
} catch {
  native = null;
}
export const backend = native ? 'native-libsecp256k1' : 'noble-js';

const keccak = await createKeccak(256);
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/** @param {Uint8Array} b */
function toBig(b) {
  let v = 0n;
  for (let i = 0; i < b.length; i++) v = (v << 8n) | BigInt(b[i]);
  return v;
}

/**
 * @param {Uint8Array} digests n x 32 bytes
 * @param {Uint8Array} sigs n x 65 bytes, r || s || v with v in {27, 28}
 * @returns {{ addresses: Uint8Array, ok: Uint8Array }} n x 20 bytes, and 1 where recovery succeeded
 */
export function recoverBatch(digests, sigs) {
  const n = digests.length / 32;
  const addresses = new Uint8Array(n * 20);
  const ok = new Uint8Array(n);
  const pub = new Uint8Array(65);
  for (let i = 0; i < n; i++) {
    const digest = digests.subarray(i * 32, i * 32 + 32);
    const sig = sigs.subarray(i * 65, i * 65 + 65);
    const v = sig[64];
    if (v !== 27 && v !== 28) continue;
    if (toBig(sig.subarray(32, 64)) > HALF_N) continue;
    try {
      let key;
      if (native) {
        key = native.ecdsaRecover(sig.subarray(0, 64), v - 27, digest, false, pub);
      } else {
        const rec = new Uint8Array(65);
        rec[0] = v - 27;
        rec.set(sig.subarray(0, 64), 1);
        key = noble.Point.fromBytes(noble.recoverPublicKey(rec, digest, { prehash: false })).toBytes(false);
      }
      keccak.init();
      keccak.update(key.subarray(1));
      addresses.set(keccak.digest('binary').subarray(12), i * 20);
      ok[i] = 1;
    } catch {
      // leaves ok[i] = 0: the signature matches no key
    }
  }
  return { addresses, ok };
}
