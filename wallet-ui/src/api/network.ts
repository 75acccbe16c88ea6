/** The network the node serves, as signatures bind it: chainId and genesis hash from GET /api/status. */
import { isHex, type Hex } from '../../../protocol/bytes.js';
import type { NetworkDomain } from '../../../chain/tx/eip712.js';

/** The signing domain of a status's chainId and genesisHash, or undefined until the node has told both. */
export function networkDomainOf(chainId: string | undefined, genesisHash: string | undefined): NetworkDomain | undefined {
  if (!chainId || !/^[0-9]{1,20}$/.test(chainId) || !isHex(genesisHash, 32)) return undefined;
  return { chainId: BigInt(chainId), genesisHash: genesisHash.toLowerCase() as Hex };
}
