import { Signature, TypedDataEncoder, Wallet } from 'ethers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../bytes.js';
import { recoverAddressJs } from '../crypto/signature.js';
import { arbAddress, arbTx, arbU256, arbU64, CURVE_N } from '../test/arbitraries.js';
import { decodeTx, encodeTx } from './codec.js';
import { domainSeparator, EIP712_TYPES, eip712Domain, signingDigest, typedDataOf } from './eip712.js';
import type { TransferTx } from './types.js';

const arbChainId = fc.bigInt(1n, (1n << 64n) - 1n);

describe('EIP-712 signing digest', () => {
  it('equals ethers TypedDataEncoder.hash for random transactions of every type and chain', () => {
    fc.assert(fc.property(arbTx, arbChainId, (tx, chainId) => {
      const { primaryType, message } = typedDataOf(tx);
      const types = { [primaryType]: [...EIP712_TYPES[primaryType]] };
      expect(toHex(signingDigest(tx, chainId))).toBe(TypedDataEncoder.hash(eip712Domain(chainId), types, message));
    }), { numRuns: 300 });
  });

  it('uses the domain the design names', () => {
    expect(toHex(domainSeparator(31337n))).toBe(TypedDataEncoder.hashDomain({ name: 'Ailo Network', version: '1', chainId: 31337n }));
    expect(TypedDataEncoder.from({ Transfer: [...EIP712_TYPES.Transfer] }).encodeType('Transfer'))
      .toBe('Transfer(address from,address to,uint256 amount,uint64 nonce)');
  });

  it('ethers Wallet.signTypedData signatures recover to the signer through our digest and pass the codec', async () => {
    await fc.assert(fc.asyncProperty(fc.bigInt(1n, CURVE_N - 1n), arbAddress, arbU256, arbU64, arbChainId, async (key, to, amount, nonce, chainId) => {
      const signer = new Wallet(toHex(fromHex('0x' + key.toString(16).padStart(64, '0'), 32)));
      const from = signer.address.toLowerCase() as TransferTx['from'];
      const sigHex = await signer.signTypedData(eip712Domain(chainId), { Transfer: [...EIP712_TYPES.Transfer] }, { from, to, amount, nonce });
      const tx: TransferTx = { type: 'transfer', from, to, amount, nonce, signature: fromHex(sigHex, 65) };
      expect(recoverAddressJs(signingDigest(tx, chainId), tx.signature)).toBe(from);
      const decoded = decodeTx(encodeTx(tx)).tx as TransferTx;
      expect(recoverAddressJs(signingDigest(decoded, chainId), decoded.signature)).toBe(from);
      // the same signature on another chain (replay) recovers to someone else
      expect(recoverAddressJs(signingDigest(tx, chainId + 1n), tx.signature)).not.toBe(from);
      expect(Signature.from(sigHex).v).toBe(tx.signature[64]);
    }), { numRuns: 60 });
  });
});
