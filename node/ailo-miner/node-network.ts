/** The network a node serves, read from its GET /api/status the way a client that signs for it needs it. */
import { isHex, type Hex } from '../../protocol/bytes.js';
import type { NetworkDomain } from '../../chain/tx/eip712.js';
import { NO_RETRY, NodeClient } from '../../protocol/client.js';

/** The chainId and genesis hash (the EIP-712 domain's salt) of the node at `nodeUrl`; throws naming what is missing. */
export async function fetchNetworkDomain(nodeUrl: string): Promise<NetworkDomain> {
  const url = `${nodeUrl.replace(/\/+$/, '')}/api/status`;
  const status = await new NodeClient(nodeUrl.replace(/\/+$/, ''), { retry: NO_RETRY }).json<{ chainId?: unknown; genesisHash?: unknown }>(
    '/api/status',
    {},
    { timeoutMs: 10_000, what: 'status' },
  );
  if (typeof status.chainId !== 'string' || !/^[0-9]{1,20}$/.test(status.chainId)) throw new Error(`${url} has no chainId`);
  if (!isHex(status.genesisHash, 32)) throw new Error(`${url} has no genesisHash (a node older than the network-bound signatures?)`);
  return { chainId: BigInt(status.chainId), genesisHash: status.genesisHash.toLowerCase() as Hex };
}
