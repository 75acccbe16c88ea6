/** Building and signing transactions with a raw private key (coordinators, tests, the wallet, `ailo send`). */
import { toChecksumAddress, type Address } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import type { TransferBody } from '../../protocol/ledger.js';
import { signDigest } from '../../protocol/signature.js';
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

/** A transfer before it is signed: what the sender means to send. */
export interface TransferIntent {
  from: Address;
  to: Address;
  amount: bigint;
  nonce: bigint;
}

/** The body of POST /api/ledger/transfer for `intent` with its 65-byte `signature` (0x hex, v = 27 or 28). */
export function transferBody(intent: TransferIntent, signature: string, network: NetworkDomain): TransferBody {
  return {
    from: toChecksumAddress(intent.from),
    to: toChecksumAddress(intent.to),
    amount: intent.amount.toString(),
    nonce: intent.nonce.toString(),
    signature,
    chainId: network.chainId.toString(),
    genesisHash: network.genesisHash,
  };
}

/** `intent` signed with the sender's own key (EIP-712 digest + secp256k1), as POST /api/ledger/transfer takes it. */
export function signTransfer(intent: TransferIntent, privateKey: Uint8Array, network: NetworkDomain): TransferBody {
  const digest = signingDigest({ type: 'transfer', ...intent, signature: new Uint8Array(65) }, network);
  return transferBody(intent, toHex(signDigest(digest, privateKey)), network);
}
