/** Bench fixtures: chains of many signed transfers, prepared fast with native signing. */
import { createRequire } from 'node:module';
import { Chain } from '../chain/chain.js';
import type { SignatureVerifier } from '../chain/crypto/verifier.js';
import type { ChainSpec } from '../chain/spec.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { signedTx } from '../chain/tx/codec.js';
import { signingDigest } from '../chain/tx/eip712.js';
import type { SignedTx, TransferTx } from '../chain/tx/types.js';
import type { Wallet } from '../chain/test/fixtures.js';

const secp = createRequire(import.meta.url)('secp256k1') as {
  ecdsaSign(msg: Uint8Array, key: Uint8Array): { signature: Uint8Array; recid: number };
};

export const SENDERS = 500;
export const PER_BLOCK = 5_000;

/** Signs transfers natively (fast enough to prepare 100k of them); the node verifies them like any others. */
export function makeTransfers(senders: Wallet[], count: number, chainId: bigint, nonces: bigint[]): SignedTx[] {
  const out: SignedTx[] = [];
  for (let i = 0; i < count; i++) {
    const s = i % senders.length;
    const from = senders[s]!;
    const unsigned: TransferTx = { type: 'transfer', from: from.address, to: senders[(s + 1) % senders.length]!.address, amount: 1000n + BigInt(i), nonce: nonces[s]!++, signature: new Uint8Array(65) };
    const { signature, recid } = secp.ecdsaSign(signingDigest(unsigned, chainId), from.key);
    const sig = new Uint8Array(65);
    sig.set(signature);
    sig[64] = 27 + recid;
    out.push(signedTx({ ...unsigned, signature: sig }));
  }
  return out;
}

/** Seals `blocks` blocks of signed transfers into a data folder, preparing each block's transfers as it goes. */
export async function sealChain(dir: string, spec: ChainSpec, coordinator: Wallet, senders: Wallet[], blocks: number, verifier: SignatureVerifier, genesisJson = '{"bench":true}'): Promise<SignedTx[]> {
  const chain = await Chain.open(await ChainStore.open(dir), spec, genesisJson, { verifier, now: () => 1n << 62n });
  const nonces = senders.map(() => 0n);
  let sample: SignedTx[] = [];
  for (let i = 0; i < blocks; i++) {
    const txs = makeTransfers(senders, PER_BLOCK, spec.chainId, nonces);
    if (i === 0) sample = txs.slice(0, 2_000);
    const { rejected } = await chain.buildBlock(txs, coordinator.key, coordinator.address, chain.head.header.timestamp + 1000n);
    if (rejected.length > 0) throw new Error(`bench setup: ${rejected[0]!.error.message}`);
  }
  await chain.store.close();
  return sample;
}

