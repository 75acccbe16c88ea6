/**
 * Network benchmark (issue 6): a follower node syncing a chain of 100,000 transfers from a peer over loopback HTTP,
 * verifying every block (signatures, state transitions, roots) and committing it, measured in blocks and transfers
 * a second; against the same blocks imported straight from disk in the same run (no HTTP), as the baseline.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeBlock } from '../chain/block/block.js';
import { Chain } from '../chain/chain.js';
import { WorkerPoolVerifier } from '../chain/crypto/recover-pool.js';
import { ALC } from '../chain/spec.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { tempDir, wallet } from '../chain/test/fixtures.js';
import { genesisFor } from '../genesis/devnet.js';
import { formatGenesis, parseGenesis } from '../genesis/genesis.js';
import { AiloNode } from '../node/node.js';
import { toHex } from '../protocol/bytes.js';
import { PER_BLOCK, SENDERS, sealChain } from './transfer-chain.js';

const BLOCKS = 20;

export async function run(): Promise<void> {
  const coordinator = wallet(1);
  const senders = Array.from({ length: SENDERS }, (_, i) => wallet(1000 + i));
  const genesisText = formatGenesis(
    genesisFor({
      name: 'ailo-bench',
      chainId: 4242n,
      coordinators: [coordinator.address],
      alloc: new Map(senders.map((s) => [s.address, 1_000_000n * ALC])),
      blockPeriodMs: 1000,
      outOfTurnDelayMs: 500,
      timestamp: 1_700_000_000_000n,
    }),
  );
  const { spec } = parseGenesis(genesisText);
  const tmp = tempDir('ailo-net-bench-');
  const verifier = new WorkerPoolVerifier();
  try {
    const sourceDir = join(tmp.dir, 'source');
    mkdirSync(sourceDir);
    writeFileSync(join(sourceDir, 'genesis.json'), genesisText);
    writeFileSync(join(tmp.dir, 'genesis.json'), genesisText);
    writeFileSync(join(tmp.dir, 'coordinator.key'), toHex(coordinator.key));
    await sealChain(join(sourceDir, 'chain'), spec, [coordinator], senders, BLOCKS, verifier, genesisText);
    const transfers = BLOCKS * PER_BLOCK;

    // Baseline: the same blocks read from disk and imported in-process (no HTTP, no JSON).
    const source = await ChainStore.open(join(sourceDir, 'chain'));
    const local = await Chain.open(await ChainStore.open(join(tmp.dir, 'local')), spec, genesisText, { verifier, now: () => 1n << 62n });
    const t0 = performance.now();
    for (let h = 1n; h <= BigInt(BLOCKS); h += 2n) {
      const batch = [];
      for (let k = h; k < h + 2n && k <= BigInt(BLOCKS); k++)
        batch.push(decodeBlock((await source.blockBytes((await source.hashAtHeight(k))!))!));
      await local.importBlocks(batch);
    }
    const localMs = performance.now() - t0;
    await local.store.close();
    await source.close();

    const quiet = { log: () => {} };
    const peer = await AiloNode.start({
      ...quiet,
      data: sourceDir,
      host: '127.0.0.1',
      port: 0,
      genesisFile: join(tmp.dir, 'genesis.json'),
      coordinatorKeyFile: join(tmp.dir, 'coordinator.key'),
    });
    const t1 = performance.now();
    const follower = await AiloNode.start({
      ...quiet,
      data: join(tmp.dir, 'follower'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: join(tmp.dir, 'genesis.json'),
      peers: [peer.url],
    });
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('follower did not sync within 10 minutes')), 600_000);
      const check = (): void => {
        if (follower.chain.height === peer.chain.height) {
          clearTimeout(deadline);
          resolve();
        }
      };
      follower.chain.onBlock(check);
      check();
    });
    const syncMs = performance.now() - t1;
    const same = follower.chain.head.hash === peer.chain.head.hash;
    await follower.stop();
    await peer.stop();
    if (!same) throw new Error('the follower ended on another head');

    const perSec = (n: number, ms: number): string => Math.round((n / ms) * 1000).toLocaleString('en-US');
    console.log(
      `follower sync over loopback HTTP: ${BLOCKS} blocks, ${transfers.toLocaleString('en-US')} transfers in ${(syncMs / 1000).toFixed(1)} s = ` +
        `${((BLOCKS / syncMs) * 1000).toFixed(1)} blocks/s, ${perSec(transfers, syncMs)} transfers/s (target >= 10,000/s; node start included)`,
    );
    console.log(`baseline, same blocks imported from disk in-process: ${perSec(transfers, localMs)} transfers/s`);
    console.log(`ratio: sync runs at ${((localMs / syncMs) * 100).toFixed(0)}% of the in-process import`);
  } finally {
    await verifier.close();
    tmp.remove();
  }
}
