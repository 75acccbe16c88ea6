/** Signing a room contributor's join (EIP-712 InferenceJoin) in the page, with the logged-in account's wallet key. */
import type { NetworkDomain } from '../../../chain/tx/eip712.js';
import { signInferenceJoin } from '../../../chain/tx/task-request.js';
import { parseAddress } from '../../../protocol/address.js';
import type { SignedJoinBody } from '../../../protocol/inference.js';

/** Signs a fresh join (issued now, random nonce) for the wallet that serves, to `coordinator`. */
export type JoinSigner = (coordinator: string) => Promise<SignedJoinBody>;

/** A signer over the account's key, read at each signature (`signingKey` throws while the wallet is locked). */
export function accountJoinSigner(signingKey: () => Uint8Array, network: NetworkDomain): JoinSigner {
  return async (coordinator) => signInferenceJoin(signingKey(), network, parseAddress(coordinator, 'coordinator'));
}
