/**
 * keccak-256, the hash of every block, transaction, Merkle node and address.
 * hash-wasm's WebAssembly keccak runs about 7x faster than a pure-JS one here and works in browsers too.
 */
import { createKeccak } from 'hash-wasm';

const hasher = await createKeccak(256);

export function keccak256(...parts: Uint8Array[]): Uint8Array {
  hasher.init();
  for (const part of parts) hasher.update(part);
  return hasher.digest('binary');
}
