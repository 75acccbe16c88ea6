/** Signing the browser miner's task requests in the page, with the logged-in account's wallet key (EIP-712). */
import type { NetworkDomain } from '../../../chain/tx/eip712.js';
import type { SignedTaskRequestBody } from '../../../protocol/federation.js';
import { signTaskRequest } from '../../../chain/tx/task-request.js';
import { parseAddress } from '../../../protocol/address.js';

/** Signs a fresh task request (issued now, random nonce) for the wallet being mined for, to `coordinator`. */
export type TaskRequestSigner = (coordinator: string) => Promise<SignedTaskRequestBody>;

/**
 * A signer over the account's key, read at each signature (`signingKey` throws while the wallet is locked, e.g. after
 * logging out), for the node's network.
 */
export function accountTaskSigner(signingKey: () => Uint8Array, network: NetworkDomain): TaskRequestSigner {
  return async (coordinator) => signTaskRequest(signingKey(), network, parseAddress(coordinator, 'coordinator'));
}
