import { describe, expect, it } from 'vitest';
import { signingDigest } from '../../../chain/tx/eip712.js';
import { parseAddress } from '../../../protocol/address.js';
import { fromHex } from '../../../protocol/bytes.js';
import { privateKeyToAddress, recoverAddressJs } from '../../../protocol/signature.js';
import { chatFee } from './chat-fee.js';

const NETWORK = { chainId: 1337n, genesisHash: `0x${'ab'.repeat(32)}` as const };
const KEY = new Uint8Array(32).fill(7);

describe('chat fee', () => {
  it("signs a transfer of the model's requestFee to its feeTo at the given nonce, for the network", () => {
    const feeTo = `0x${'c0'.repeat(20)}`;
    const fee = chatFee({ requestFee: '150000000000000000', feeTo }, KEY, NETWORK, 4n);
    const from = privateKeyToAddress(KEY);
    expect(fee).toMatchObject({ amount: '150000000000000000', nonce: '4', chainId: '1337', genesisHash: NETWORK.genesisHash });
    expect(parseAddress(fee.from)).toBe(from);
    expect(parseAddress(fee.to)).toBe(parseAddress(feeTo));
    const digest = signingDigest(
      { type: 'transfer', from, to: parseAddress(feeTo), amount: 150000000000000000n, nonce: 4n, signature: new Uint8Array(65) },
      NETWORK,
    );
    expect(recoverAddressJs(digest, fromHex(fee.signature as `0x${string}`, 65))).toBe(from);
  });

  it('refuses a quote that is not a base-unit amount (a node that does not charge)', () => {
    expect(() => chatFee({ requestFee: undefined as unknown as string, feeTo: `0x${'c0'.repeat(20)}` }, KEY, NETWORK, 0n)).toThrow(
      /quotes no fee/,
    );
  });
});
