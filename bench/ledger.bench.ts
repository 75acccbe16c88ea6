/**
 * Ledger benchmarks (issue 2):
 * - transfers verified and applied per second: blocks of signed transfers imported into a fresh chain (EIP-712
 *   digests, native signature recovery on worker threads, state transition, state root, LevelDB commit), against
 *   ethers' verifyTypedData over the same transfers in the same run;
 * - audit replay speed over a data folder holding at least 100,000 transfers.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { verifyTypedData } from 'ethers';
import { auditStore } from '../chain/audit/store-audit.js';
import type { Block } from '../chain/block/block.js';
import { Chain } from '../chain/chain.js';
import { toHex } from '../chain/bytes.js';
import { WorkerPoolVerifier } from '../chain/crypto/recover-pool.js';
import { ALC } from '../chain/spec.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { EIP712_TYPES, eip712Domain, signingDigest } from '../chain/tx/eip712.js';
import { signedTx } from '../chain/tx/codec.js';
import type { SignedTx, TransferTx } from '../chain/tx/types.js';
import { tempDir, testSpec, wallet, type Wallet } from '../chain/test/fixtures.js';

const secp = createRequire(import.meta.url)('secp256k1') as {
  ecdsaSign(msg: Uint8Array, key: Uint8Array): { signature: Uint8Array; recid: number };
};

const SENDERS = 500;
const PER_BLOCK = 5_000;

/** Signs transfers natively (fast enough to prepare 100k of them); the node verifies them like any others. */
function makeTransfers(senders: Wallet[], count: number, chainId: bigint, nonces: bigint[]): SignedTx[] {
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

async function sealChain(dir: string, spec: ReturnType<typeof testSpec>, coordinator: Wallet, txs: SignedTx[], verifier: WorkerPoolVerifier): Promise<Block[]> {
  const chain = await Chain.open(await ChainStore.open(dir), spec, '{"bench":true}', { verifier, now: () => 1n << 62n });
  const blocks: Block[] = [];
  for (let i = 0; i < txs.length; i += PER_BLOCK) {
    const { block, rejected } = await chain.buildBlock(txs.slice(i, i + PER_BLOCK), coordinator.key, coordinator.address, chain.head.header.timestamp + 1000n);
    if (rejected.length > 0) throw new Error(`bench setup: ${rejected[0]!.error.message}`);
    blocks.push(block);
  }
  await chain.store.close();
  return blocks;
}

const rate = (n: number, ms: number): string => `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;

export async function run(): Promise<void> {
  const coordinator = wallet(1);
  const senders = Array.from({ length: SENDERS }, (_, i) => wallet(1000 + i));
  const spec = testSpec([coordinator.address], senders.map((s) => [s.address, 1_000_000n * ALC]));
  const verifier = new WorkerPoolVerifier();
  console.log(`signature backend: ${verifier.backend}, ${verifier.threads} worker thread(s)`);
  const tmp = tempDir('ailo-bench-');
  try {
    const nonces = senders.map(() => 0n);
    const t0 = performance.now();
    const txs = makeTransfers(senders, 100_000, spec.chainId, nonces);
    console.log(`prepared ${txs.length.toLocaleString('en-US')} signed transfers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const blocks = await sealChain(join(tmp.dir, 'a'), spec, coordinator, txs, verifier);

    // 1. Import blocks into a fresh chain: verify everything, apply, commit. The first block warms up the JIT.
    const importBlocks = blocks.slice(1, 7);
    const importCount = importBlocks.reduce((n, b) => n + b.txs.length, 0);
    const follower = await Chain.open(await ChainStore.open(join(tmp.dir, 'b')), spec, '{"bench":true}', { verifier, now: () => 1n << 62n });
    await follower.importBlocks(blocks.slice(0, 1));
    const t1 = performance.now();
    await follower.importBlocks(importBlocks);
    const importMs = performance.now() - t1;
    await follower.store.close();

    // Baseline: ethers' verifyTypedData (EIP-712 hash + recovery, no state) on a sample of the same transfers.
    const sample = txs.slice(0, 2_000);
    const domain = eip712Domain(spec.chainId);
    const types = { Transfer: [...EIP712_TYPES.Transfer] };
    const t2 = performance.now();
    for (const { tx } of sample) {
      const t = tx as TransferTx;
      const who = verifyTypedData(domain, types, { from: t.from, to: t.to, amount: t.amount, nonce: t.nonce }, toHex(t.signature));
      if (who.toLowerCase() !== t.from) throw new Error('baseline: ethers recovered another address');
    }
    const ethersMs = performance.now() - t2;
    const ours = (importCount / importMs) * 1000;
    const theirs = (sample.length / ethersMs) * 1000;
    console.log(`transfers verified + applied + committed (block import): ${rate(importCount, importMs)} over ${importCount.toLocaleString('en-US')} (target >= 10,000/s)`);
    console.log(`ethers verifyTypedData (baseline, same run):            ${rate(sample.length, ethersMs)} over ${sample.length.toLocaleString('en-US')}`);
    console.log(`ratio: ${(ours / theirs).toFixed(1)}x ethers`);

    // 2. Audit replay of the whole data folder (100,000 transfers), indexes included.
    const store = await ChainStore.open(join(tmp.dir, 'a'));
    const report = await auditStore(store, spec, { verifier });
    await store.close();
    if (report.faults.length > 0) throw new Error(`bench chain failed its audit: ${report.faults[0]!.what}`);
    console.log(`audit replay (ailo audit --data): ${report.txs.transfer.toLocaleString('en-US')} transfers in ${(report.elapsedMs / 1000).toFixed(2)} s = ${rate(report.txs.transfer, report.elapsedMs)} (indexes and state checked after the replay: ${(report.elapsedMs / 1000).toFixed(2)} s is replay only)`);
  } finally {
    await verifier.close();
    tmp.remove();
  }
}
