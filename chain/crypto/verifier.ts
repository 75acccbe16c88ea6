/** The interface block import and the mempool use to check signatures, so browsers and Node can differ. */
import type { Address } from '../../protocol/address.js';
import { recoverAddressJs } from '../../protocol/signature.js';

export interface SignatureVerifier {
  /** The signer of each (digest, signature) pair, or null where the signature matches no key. */
  recoverMany(digests: Uint8Array[], signatures: Uint8Array[]): Promise<(Address | null)[]>;
  close(): Promise<void>;
}

/** Pure-JS verifier for browsers and tools; slow (about 750 recoveries a second). */
export class JsVerifier implements SignatureVerifier {
  async recoverMany(digests: Uint8Array[], signatures: Uint8Array[]): Promise<(Address | null)[]> {
    return digests.map((d, i) => recoverAddressJs(d, signatures[i]!));
  }
  async close(): Promise<void> {}
}
