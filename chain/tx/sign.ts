/** Building and signing transactions with a raw private key (coordinators, tests, the CLI). */
import { signDigest } from '../crypto/signature.js';
import { signingDigest, type NetworkDomain } from './eip712.js';
import { signedTx } from './codec.js';
import type { SignedTx, Tx } from './types.js';

type Unsigned<T> = T extends Tx ? Omit<T, 'signature'> : never;
export type UnsignedTx = Unsigned<Tx>;

export function signTx(unsigned: UnsignedTx, privateKey: Uint8Array, network: NetworkDomain): SignedTx {
  const placeholder = { ...unsigned, signature: new Uint8Array(65) } as Tx;
  const signature = signDigest(signingDigest(placeholder, network), privateKey);
  return signedTx({ ...placeholder, signature });
}
