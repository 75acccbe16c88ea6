/**
 * The native miner's signers: task requests (POST /api/task) and inference-room joins, with the wallet's key, for the
 * node's network.
 */
import type { NetworkDomain } from '../../chain/tx/eip712.js';
import type { SignedTaskRequestBody } from '../../protocol/federation.js';
import { signInferenceJoin, signTaskRequest } from '../../chain/tx/task-request.js';
import { fetchNetworkDomain } from './node-network.js';
import { parseAddress } from '../../protocol/address.js';

/**
 * A signer for MinerOptions.signTaskRequest. The network (chainId and genesis hash, the signed domain) is read once
 * from the node's status; a failure to read it throws, and the miner's request loop retries as for any unreachable node.
 */
export function taskRequestSigner(privateKey: Uint8Array, nodeUrl: string): (coordinator: string) => Promise<SignedTaskRequestBody> {
  let network: NetworkDomain | undefined;
  return async (coordinator) => {
    network ??= await fetchNetworkDomain(nodeUrl);
    return signTaskRequest(privateKey, network, parseAddress(coordinator, 'coordinator'));
  };
}

/** A signer for ContributorOptions.signJoin (`ailo-miner --serve`): an EIP-712 InferenceJoin for the node's network. */
export function inferenceJoinSigner(privateKey: Uint8Array, nodeUrl: string): (coordinator: string) => Promise<SignedTaskRequestBody> {
  let network: NetworkDomain | undefined;
  return async (coordinator) => {
    network ??= await fetchNetworkDomain(nodeUrl);
    return signInferenceJoin(privateKey, network, parseAddress(coordinator, 'coordinator'));
  };
}
