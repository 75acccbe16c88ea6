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
import { toHex } from '../protocol/bytes.js';
import { WorkerPoolVerifier } from '../chain/crypto/recover-pool.js';
import { ALC } from '../chain/spec.js';
import { networkDomain } from '../chain/genesis-block.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { EIP712_TYPES, eip712Domain } from '../chain/tx/eip712.js';
import type { TransferTx } from '../chain/tx/types.js';
import { tempDir, testSpec, wallet } from '../chain/test/fixtures.js';
import { decodeVote } from '../chain/consensus/finality.js';
import { auditFinality } from '../chain/audit/finality-audit.js';
import type { Hex } from '../protocol/bytes.js';
import { PER_BLOCK, SENDERS, sealChain } from './transfer-chain.js';

const rate = (n: number, ms: number): string => `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;

export async function run(): Promise<void> {
  // Four coordinators (quorum 3, one byzantine tolerated): every block carries four FFG votes to check.
  const coordinators = [wallet(1), wallet(2), wallet(3), wallet(4)];
  const senders = Array.from({ length: SENDERS }, (_, i) => wallet(1000 + i));
  const spec = testSpec(
    coordinators.map((c) => c.address),
    senders.map((s) => [s.address, 1_000_000n * ALC]),
  );
  const verifier = new WorkerPoolVerifier();
  console.log(`signature backend: ${verifier.backend}, ${verifier.threads} worker thread(s)`);
  const tmp = tempDir('ailo-bench-');
  try {
    const t0 = performance.now();
    const sample = await sealChain(join(tmp.dir, 'a'), spec, coordinators, senders, 20, verifier);
    console.log(
      `prepared and sealed ${(20 * PER_BLOCK).toLocaleString('en-US')} signed transfers in 20 blocks in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    // 1. A fresh chain imports stored blocks as a syncing node would: raw bytes, decoded, then everything verified,
    //    applied and committed, two blocks per batch, each batch followed by the blocks' finality votes (signers
    //    recovered and checked, FFG recomputed): the certificates are checked as part of the import. The first
    //    block warms up the JIT and is not counted.
    const source = await ChainStore.open(join(tmp.dir, 'a'));
    const raw = async (h: number): Promise<Block> => decodeBlock((await source.blockBytes((await source.hashAtHeight(BigInt(h)))!))!);
    const votesFor = async (from: number, to: number): Promise<Uint8Array[]> => {
      const out: Uint8Array[] = [];
      for await (const { bytes } of source.voteEntries(BigInt(from))) {
        if (decodeVote(bytes).target.height > BigInt(to)) break;
        out.push(bytes);
      }
      return out;
    };
    const follower = await Chain.open(await ChainStore.open(join(tmp.dir, 'b')), spec, '{"bench":true}', {
      verifier,
      now: () => 1n << 62n,
    });
    await follower.importBlocks([await raw(1)]);
    await follower.addVotes(await votesFor(1, 1));
    let importCount = 0;
    let voteCount = 0;
    const t1 = performance.now();
    for (let h = 2; h <= 9; h += 2) {
      const batch = [await raw(h), await raw(h + 1)];
      const votes = await votesFor(h, h + 1);
      importCount += batch[0]!.txs.length + batch[1]!.txs.length;
      voteCount += votes.length;
      await follower.importBlocks(batch);
      const intake = await follower.addVotes(votes);
      if (intake.invalid.length > 0) throw new Error(`bench: a vote was refused: ${intake.invalid[0]!.reason}`);
    }
    const importMs = performance.now() - t1;
    const finalOnFollower = follower.finalizedHeight();
    // Baseline for the certificates' cost: the same blocks imported by another fresh chain without their votes.
    const bare = await Chain.open(await ChainStore.open(join(tmp.dir, 'c')), spec, '{"bench":true}', { verifier, now: () => 1n << 62n });
    await bare.importBlocks([await raw(1)]);
    const tb = performance.now();
    for (let h = 2; h <= 9; h += 2) await bare.importBlocks([await raw(h), await raw(h + 1)]);
    const bareMs = performance.now() - tb;
    await bare.store.close();
    await follower.store.close();
    await source.close();

    // Baseline: ethers' verifyTypedData (EIP-712 hash + recovery, no state) on a sample of the same transfers.
    const domain = eip712Domain(networkDomain(spec));
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
    console.log(
      `transfers verified + applied + committed (block import, ${voteCount} finality votes checked, final to ${finalOnFollower}): ${rate(importCount, importMs)} over ${importCount.toLocaleString('en-US')} (target >= 10,000/s)`,
    );
    console.log(
      `the same import without finality votes (baseline, same run):  ${rate(importCount, bareMs)}; with votes at ${((bareMs / importMs) * 100).toFixed(0)}% of its speed`,
    );
    console.log(
      `ethers verifyTypedData (baseline, same run):            ${rate(sample.length, ethersMs)} over ${sample.length.toLocaleString('en-US')}`,
    );
    console.log(`ratio: ${(ours / theirs).toFixed(1)}x ethers`);

    // 2. Audit replay of the whole data folder (100,000 transfers), indexes included.
    const store = await ChainStore.open(join(tmp.dir, 'a'));
    const report = await auditStore(store, spec, { verifier });
    await store.close();
    if (report.faults.length > 0) throw new Error(`bench chain failed its audit: ${report.faults[0]!.what}`);
    console.log(
      `audit replay (ailo audit --data): ${report.txs.transfer.toLocaleString('en-US')} transfers in ${(report.elapsedMs / 1000).toFixed(2)} s = ${rate(report.txs.transfer, report.elapsedMs)} (replay and verification of every block; the index checks that follow are not timed)`,
    );
    const t3 = performance.now();
    const hashes: Hex[] = [report.genesisHash];
    const again = await ChainStore.open(join(tmp.dir, 'a'));
    for await (const { height, hash } of again.heightIndex()) hashes[Number(height)] = hash;
    const votePages = async function* (): AsyncGenerator<Uint8Array[]> {
      const all: Uint8Array[] = [];
      for await (const { bytes } of again.voteEntries()) all.push(bytes);
      yield all;
    };
    const finality = await auditFinality(spec, hashes, votePages(), verifier);
    await again.close();
    const finalityMs = performance.now() - t3;
    console.log(
      `audit of finality certificates: ${finality.votes} votes in ${(finalityMs / 1000).toFixed(2)} s, final to height ${finality.finalized.height} of ${report.headHeight}; ` +
        `audit with certificates: ${rate(report.txs.transfer, report.elapsedMs + finalityMs)}`,
    );
  } finally {
    await verifier.close();
    tmp.remove();
  }
}
