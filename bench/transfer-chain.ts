/** Bench fixtures: chains of many signed transfers, prepared fast with native signing. */
import { createRequire } from 'node:module';
import { Chain } from '../chain/chain.js';
import type { SignatureVerifier } from '../chain/crypto/verifier.js';
import type { ChainSpec } from '../chain/spec.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { signedTx } from '../chain/tx/codec.js';
import { networkDomain } from '../chain/genesis-block.js';
import { signingDigest, type NetworkDomain } from '../chain/tx/eip712.js';
import type { SignedTx, TransferTx } from '../chain/tx/types.js';
import type { Wallet } from '../chain/test/fixtures.js';
import { inTurnProposer } from '../chain/consensus/clique.js';
import { encodeVote, signVote, type Checkpoint } from '../chain/consensus/finality.js';

const secp = createRequire(import.meta.url)('secp256k1') as {
  ecdsaSign(msg: Uint8Array, key: Uint8Array): { signature: Uint8Array; recid: number };
};

export const SENDERS = 500;
export const PER_BLOCK = 5_000;

/** Signs transfers natively (fast enough to prepare 100k of them); the node verifies them like any others. */
export function makeTransfers(senders: Wallet[], count: number, network: NetworkDomain, nonces: bigint[]): SignedTx[] {
  const out: SignedTx[] = [];
  for (let i = 0; i < count; i++) {
    const s = i % senders.length;
    const from = senders[s]!;
    const unsigned: TransferTx = {
      type: 'transfer',
      from: from.address,
      to: senders[(s + 1) % senders.length]!.address,
      amount: 1000n + BigInt(i),
      nonce: nonces[s]!++,
      signature: new Uint8Array(65),
    };
    const { signature, recid } = secp.ecdsaSign(signingDigest(unsigned, network), from.key);
    const sig = new Uint8Array(65);
    sig.set(signature);
    sig[64] = 27 + recid;
    out.push(signedTx({ ...unsigned, signature: sig }));
  }
  return out;
}

/**
 * Seals `blocks` blocks of signed transfers into a data folder, preparing each block's transfers as it goes. The
 * coordinators (the spec's, in order) take turns as Clique's in-turn proposer, and after each block every one of
 * them casts its FFG vote (parent -> block), so the folder holds the certificates a live network would.
 */
export async function sealChain(
  dir: string,
  spec: ChainSpec,
  coordinators: Wallet[],
  senders: Wallet[],
  blocks: number,
  verifier: SignatureVerifier,
  genesisJson = '{"bench":true}',
): Promise<SignedTx[]> {
  const chain = await Chain.open(await ChainStore.open(dir), spec, genesisJson, { verifier, now: () => 1n << 62n });
  const nonces = senders.map(() => 0n);
  let sample: SignedTx[] = [];
  for (let i = 0; i < blocks; i++) {
    const txs = makeTransfers(senders, PER_BLOCK, networkDomain(spec), nonces);
    if (i === 0) sample = txs.slice(0, 2_000);
    const proposer = coordinators.find((c) => c.address === inTurnProposer(spec, chain.height + 1n))!;
    const parent: Checkpoint = { hash: chain.head.hash, height: chain.height };
    const { block, rejected } = await chain.buildBlock(
      txs,
      proposer.key,
      proposer.address,
      chain.head.header.timestamp + BigInt(spec.blockPeriodMs),
    );
    if (rejected.length > 0) throw new Error(`bench setup: ${rejected[0]!.error.message}`);
    const target: Checkpoint = { hash: block.hash, height: block.header.height };
    await chain.addVotes(coordinators.map((c) => encodeVote(signVote(chain.genesisHash, parent, target, c.key, c.address))));
  }
  await chain.store.close();
  return sample;
}
