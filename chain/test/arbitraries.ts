/** fast-check arbitraries for chain values: addresses, hashes, well-formed (unverified) signatures and transactions. */
import fc from 'fast-check';
import type { Address } from '../../protocol/address.js';
import { toHex, uintToBytes, type Hex } from '../../protocol/bytes.js';
import type { NetworkDomain } from '../tx/eip712.js';
import type { ContributionTx, InferenceRewardTx, ModelVersionTx, TransferTx, Tx } from '../tx/types.js';

export const CURVE_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
export const HALF_N = CURVE_N >> 1n;

const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
export const arbAddress: fc.Arbitrary<Address> = bytes(20).map((b) => toHex(b) as Address);
export const arbHash: fc.Arbitrary<Hex> = bytes(32).map(toHex);
export const arbU64 = fc.bigInt(0n, (1n << 64n) - 1n);
export const arbU256 = fc.bigInt(0n, (1n << 256n) - 1n);

/** A signature of the accepted shape (non-zero r, low non-zero s, v 27/28); it need not match any key. */
export const arbSignatureShape: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.bigInt(1n, CURVE_N - 1n), fc.bigInt(1n, HALF_N), fc.constantFrom(27, 28))
  .map(([r, s, v]) => {
    const out = new Uint8Array(65);
    out.set(uintToBytes(r, 32), 0);
    out.set(uintToBytes(s, 32), 32);
    out[64] = v;
    return out;
  });

export const arbTransfer: fc.Arbitrary<TransferTx> = fc.record({
  type: fc.constant('transfer' as const),
  from: arbAddress,
  to: arbAddress,
  amount: arbU256,
  nonce: arbU64,
  signature: arbSignatureShape,
});

export const arbContribution: fc.Arbitrary<ContributionTx> = fc.record({
  type: fc.constant('contribution' as const),
  coordinator: arbAddress,
  miner: arbAddress,
  taskId: arbHash,
  modelVersion: arbU64,
  shard: arbHash,
  offset: arbU64,
  length: arbU64,
  gradientDigest: arbHash,
  quality: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  reward: arbU256,
  signature: arbSignatureShape,
});

export const arbModelVersion: fc.Arbitrary<ModelVersionTx> = fc.record({
  type: fc.constant('model_version' as const),
  coordinator: arbAddress,
  version: arbU64,
  parentVersion: arbU64,
  manifestDigest: arbHash,
  contributions: fc.array(arbHash, { maxLength: 24 }),
  outerLrPpm: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  momentumRestart: fc.boolean(),
  signature: arbSignatureShape,
});

export const arbInferenceReward: fc.Arbitrary<InferenceRewardTx> = fc.record({
  type: fc.constant('inference_reward' as const),
  coordinator: arbAddress,
  node: arbAddress,
  requestId: arbHash,
  spanStart: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  spanEnd: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  shares: arbU64,
  reward: arbU256,
  signature: arbSignatureShape,
});

export const arbTx: fc.Arbitrary<Tx> = fc.oneof(arbTransfer, arbContribution, arbModelVersion, arbInferenceReward);

/** A network as signatures bind it: any chainId of a genesis file and any genesis hash. */
export const arbNetwork: fc.Arbitrary<NetworkDomain> = fc.record({ chainId: fc.bigInt(1n, (1n << 64n) - 1n), genesisHash: arbHash });
