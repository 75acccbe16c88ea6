import { Signature, TypedDataEncoder, Wallet } from 'ethers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { recoverAddressJs } from '../../protocol/signature.js';
import { arbAddress, arbHash, arbNetwork, arbTx, arbU256, arbU64, CURVE_N } from '../test/arbitraries.js';
import { decodeTx, encodeTx } from './codec.js';
import { domainSeparator, EIP712_DOMAIN_FIELDS, EIP712_TYPES, eip712Domain, signingDigest, typedDataOf } from './eip712.js';
import type { TransferTx } from './types.js';

describe('EIP-712 signing digest', () => {
  it('equals ethers TypedDataEncoder.hash (domain with salt) for random transactions of every type and network', () => {
    fc.assert(
      fc.property(arbTx, arbNetwork, (tx, network) => {
        const { primaryType, message } = typedDataOf(tx);
        const types = { [primaryType]: [...EIP712_TYPES[primaryType]] };
        const domain = { name: 'Ailo Network', version: '1', chainId: network.chainId, salt: network.genesisHash };
        expect(toHex(signingDigest(tx, network))).toBe(TypedDataEncoder.hash(domain, types, message));
        expect(eip712Domain(network)).toEqual(domain);
      }),
      { numRuns: 300 },
    );
  });

  it('uses the domain the design names: name, version, chainId and the genesis hash as salt', () => {
    const network = { chainId: 31337n, genesisHash: `0x${'5a'.repeat(32)}` } as const;
    expect(toHex(domainSeparator(network))).toBe(
      TypedDataEncoder.hashDomain({ name: 'Ailo Network', version: '1', chainId: 31337n, salt: network.genesisHash }),
    );
    // the field list the wallet UI sends with eth_signTypedData_v4 is the one ethers derives from the domain
    const payload = TypedDataEncoder.getPayload(
      eip712Domain(network),
      { Transfer: [...EIP712_TYPES.Transfer] },
      { from: `0x${'11'.repeat(20)}`, to: `0x${'22'.repeat(20)}`, amount: 1n, nonce: 0n },
    );
    expect(payload.types.EIP712Domain).toEqual(EIP712_DOMAIN_FIELDS);
    expect(TypedDataEncoder.from({ Transfer: [...EIP712_TYPES.Transfer] }).encodeType('Transfer')).toBe(
      'Transfer(address from,address to,uint256 amount,uint64 nonce)',
    );
  });

  it('ethers Wallet.signTypedData signatures recover to the signer through our digest and pass the codec', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt(1n, CURVE_N - 1n),
        arbAddress,
        arbU256,
        arbU64,
        arbNetwork,
        arbHash,
        async (key, to, amount, nonce, network, otherGenesis) => {
          const signer = new Wallet(toHex(fromHex('0x' + key.toString(16).padStart(64, '0'), 32)));
          const from = signer.address.toLowerCase() as TransferTx['from'];
          const sigHex = await signer.signTypedData(
            eip712Domain(network),
            { Transfer: [...EIP712_TYPES.Transfer] },
            { from, to, amount, nonce },
          );
          const tx: TransferTx = { type: 'transfer', from, to, amount, nonce, signature: fromHex(sigHex, 65) };
          expect(recoverAddressJs(signingDigest(tx, network), tx.signature)).toBe(from);
          const decoded = decodeTx(encodeTx(tx)).tx as TransferTx;
          expect(recoverAddressJs(signingDigest(decoded, network), decoded.signature)).toBe(from);
          // the same signature on another chain, or on a network with the same chainId and another genesis, recovers to someone else
          expect(recoverAddressJs(signingDigest(tx, { ...network, chainId: network.chainId + 1n }), tx.signature)).not.toBe(from);
          fc.pre(otherGenesis !== network.genesisHash);
          expect(recoverAddressJs(signingDigest(tx, { ...network, genesisHash: otherGenesis }), tx.signature)).not.toBe(from);
          expect(Signature.from(sigHex).v).toBe(tx.signature[64]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
