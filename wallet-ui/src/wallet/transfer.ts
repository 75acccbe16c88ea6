/** Signing a `transfer` in the browser: with the account's own key (EIP-712 digest + secp256k1), or an EIP-1193 wallet. */
import { parseAddress, toChecksumAddress, type Address } from '../../../protocol/address.js';
import { EIP712_DOMAIN_FIELDS, EIP712_TYPES, eip712Domain, type NetworkDomain } from '../../../chain/tx/eip712.js';
import { transferBody, type TransferIntent } from '../../../chain/tx/sign.js';
import type { TransferBody } from '../../../protocol/ledger.js';

/** The subset of EIP-1193 a browser wallet (MetaMask and others) offers as `window.ethereum`. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

export function browserWallet(): Eip1193Provider | undefined {
  const eth = (globalThis as { ethereum?: Eip1193Provider }).ethereum;
  return eth && typeof eth.request === 'function' ? eth : undefined;
}

export async function browserWalletAccount(provider: Eip1193Provider): Promise<Address> {
  const accounts = await provider.request({ method: 'eth_requestAccounts' });
  if (!Array.isArray(accounts) || typeof accounts[0] !== 'string') throw new Error('the browser wallet shared no account');
  return parseAddress(accounts[0], 'browser wallet account');
}

/** Asks the wallet for eth_signTypedData_v4 over the same domain and type the ledger verifies. */
export async function signTransferWithProvider(
  provider: Eip1193Provider,
  intent: TransferIntent,
  network: NetworkDomain,
): Promise<TransferBody> {
  const typedData = {
    types: { EIP712Domain: EIP712_DOMAIN_FIELDS, Transfer: EIP712_TYPES.Transfer },
    primaryType: 'Transfer',
    // chainId as a decimal string: a JSON number loses precision above 2^53 (random chain ids reach that).
    domain: { ...eip712Domain(network), chainId: network.chainId.toString() },
    message: {
      from: toChecksumAddress(intent.from),
      to: toChecksumAddress(intent.to),
      amount: intent.amount.toString(),
      nonce: intent.nonce.toString(),
    },
  };
  const signature = await provider.request({
    method: 'eth_signTypedData_v4',
    params: [toChecksumAddress(intent.from), JSON.stringify(typedData)],
  });
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature))
    throw new Error('the browser wallet returned no usable signature');
  // Some wallets return v as 0/1; the ledger wants 27/28.
  const v = parseInt(signature.slice(130), 16);
  const fixed = v < 27 ? signature.slice(0, 130) + (v + 27).toString(16) : signature;
  return transferBody(intent, fixed.toLowerCase(), network);
}
