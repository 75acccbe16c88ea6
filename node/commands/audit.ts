/** `ailo audit --data DIR | --node URL`: replay and check a whole chain from genesis; exit 1 on any fault. */
import { auditStore } from '../../chain/audit/store-audit.js';
import { formatReport } from '../../chain/audit/report.js';
import { replayChain, type AuditReport } from '../../chain/audit/replay.js';
import { WorkerPoolVerifier } from '../../chain/crypto/recover-pool.js';
import { ChainStore } from '../../chain/store/chain-store.js';
import { parseGenesis } from '../../genesis/genesis.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { claimedFinal, fetchGenesisText, httpBlocks, httpVotes } from '../audit-sources.js';
import { auditFinality } from '../../chain/audit/finality-audit.js';
import type { Hex } from '../../protocol/bytes.js';

export async function auditCommand(o: { data?: string; node?: string; quiet?: boolean }): Promise<number> {
  if (!o.data === !o.node) throw new Error('give exactly one of --data DIR or --node URL');
  const verifier = new WorkerPoolVerifier();
  const progress = o.quiet ? undefined : (h: bigint) => process.stderr.write(`\rreplayed to height ${h}`);
  let report: AuditReport;
  let source: string;
  try {
    if (o.data) {
      source = `data folder ${o.data}`;
      const chainDir = join(o.data, 'chain');
      if (!existsSync(chainDir)) throw new Error(`${o.data} holds no chain (no ${chainDir})`);
      const store = await ChainStore.open(chainDir);
      try {
        const genesisText = await store.genesisJson();
        if (!genesisText) throw new Error(`${chainDir} holds no genesis: not an Ailo data folder, or it never started`);
        report = await auditStore(store, parseGenesis(genesisText).spec, { verifier, onProgress: progress });
      } finally {
        await store.close();
      }
    } else {
      const url = o.node!.replace(/\/+$/, '');
      source = `node ${url}`;
      const { spec } = parseGenesis(await fetchGenesisText(url));
      const claimed = await claimedFinal(url);
      const hashes: Hex[] = [];
      ({ report } = await replayChain(spec, httpBlocks(url), {
        verifier,
        onProgress: progress,
        visit: (b) => (hashes[Number(b.header.height)] = b.hash),
      }));
      if (report.faults.length === 0) {
        hashes[0] = report.genesisHash;
        report.finality = await auditFinality(spec, hashes, httpVotes(url), verifier, claimed);
        report.faults.push(...report.finality.faults);
      }
    }
  } finally {
    await verifier.close();
  }
  if (progress) process.stderr.write('\n');
  console.log(formatReport(report, source));
  return report.faults.length === 0 ? 0 : 1;
}
