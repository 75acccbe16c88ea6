/**
 * Ledger benchmarks (issue 2):
 * - transfers verified and applied per second: stored blocks of signed transfers decoded and imported into a fresh chain (EIP-712
 *   digests, native signature recovery on worker threads, state transition, state root, LevelDB commit), against
 *   ethers' verifyTypedData over the same transfers in the same run;
 * - audit replay speed over a data folder holding at least 100,000 transfers.
 */
import { join } from 'node:path';
import { verifyTypedData } from 'ethers';
import { auditStore } from '../chain/audit/store-audit.js';
import { decodeBlock, type Block } from '../chain/block/block.js';
import { Chain } from '../chain/chain.js';
import { toHex } from '../chain/bytes.js';
import { WorkerPoolVerifier } from '../chain/crypto/recover-pool.js';
import { ALC } from '../chain/spec.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { EIP712_TYPES, eip712Domain } from '../chain/tx/eip712.js';
import type { TransferTx } from '../chain/tx/types.js';
import { tempDir, testSpec, wallet } from '../chain/test/fixtures.js';
import { PER_BLOCK, SENDERS, sealChain } from './transfer-chain.js';

const rate = (n: number, ms: number): string => `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;

export async function run(): Promise<void> {
  const coordinator = wallet(1);
  const senders = Array.from({ length: SENDERS }, (_, i) => wallet(1000 + i));
  const spec = testSpec([coordinator.address], senders.map((s) => [s.address, 1_000_000n * ALC]));
  const verifier = new WorkerPoolVerifier();
  console.log(`signature backend: ${verifier.backend}, ${verifier.threads} worker thread(s)`);
  const tmp = tempDir('ailo-bench-');
  try {
    const t0 = performance.now();
    const sample = await sealChain(join(tmp.dir, 'a'), spec, coordinator, senders, 20, verifier);
    console.log(`prepared and sealed ${(20 * PER_BLOCK).toLocaleString('en-US')} signed transfers in 20 blocks in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // 1. A fresh chain imports stored blocks as a syncing node would: raw bytes, decoded, then everything verified,
    //    applied and committed, two blocks per batch. The first block warms up the JIT and is not counted.
    const source = await ChainStore.open(join(tmp.dir, 'a'));
    const raw = async (h: number): Promise<Block> => decodeBlock((await source.blockBytes((await source.hashAtHeight(BigInt(h)))!))!);
    const follower = await Chain.open(await ChainStore.open(join(tmp.dir, 'b')), spec, '{"bench":true}', { verifier, now: () => 1n << 62n });
    await follower.importBlocks([await raw(1)]);
    let importCount = 0;
    const t1 = performance.now();
    for (let h = 2; h <= 9; h += 2) {
      const batch = [await raw(h), await raw(h + 1)];
      importCount += batch[0]!.txs.length + batch[1]!.txs.length;
      await follower.importBlocks(batch);
    }
    const importMs = performance.now() - t1;
    await follower.store.close();
    await source.close();

    // Baseline: ethers' verifyTypedData (EIP-712 hash + recovery, no state) on a sample of the same transfers.
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
    console.log(`audit replay (ailo audit --data): ${report.txs.transfer.toLocaleString('en-US')} transfers in ${(report.elapsedMs / 1000).toFixed(2)} s = ${rate(report.txs.transfer, report.elapsedMs)} (replay and verification of every block; the index checks that follow are not timed)`);
  } finally {
    await verifier.close();
    tmp.remove();
  }
}
