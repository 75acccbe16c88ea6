/**
 * `ailo audit --data DIR | --node URL [--models]`: replay and check a whole chain from genesis; with `--models`,
 * recompute every model version from the genesis weights and the accepted updates too. Exit 1 on any fault.
 */
import { auditStore } from '../../chain/audit/store-audit.js';
import { formatReport } from '../../chain/audit/report.js';
import { replayChain, type AuditReport } from '../../chain/audit/replay.js';
import { WorkerPoolVerifier } from '../../chain/crypto/recover-pool.js';
import { ChainStore } from '../../chain/store/chain-store.js';
import { parseGenesis } from '../../genesis/genesis.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { claimedFinal, fetchGenesisText, folderUpdates, httpBlocks, httpUpdates, httpVotes } from '../audit-sources.js';
import { auditFinality } from '../../chain/audit/finality-audit.js';
import type { Hex } from '../../protocol/bytes.js';
import { auditModels, ModelHistory, UpdateSourceError, type ModelAuditResult } from '../federation/model-audit.js';
import { paramCount, presetConfig } from '../../trainer/model/config.js';
import type { ChainSpec } from '../../chain/spec.js';

export async function auditCommand(o: { data?: string; node?: string; quiet?: boolean; models?: boolean }): Promise<number> {
  if (!o.data === !o.node) throw new Error('give exactly one of --data DIR or --node URL');
  const verifier = new WorkerPoolVerifier();
  const progress = o.quiet ? undefined : (h: bigint) => process.stderr.write(`\rreplayed to height ${h}`);
  let report: AuditReport;
  let source: string;
  let spec: ChainSpec | undefined;
  let fetchUpdate: ((digest: Hex) => Promise<Uint8Array>) | undefined;
  const history = new ModelHistory();
  const visit = o.models ? (b: Parameters<ModelHistory['visit']>[0]) => history.visit(b) : undefined;
  try {
    if (o.data) {
      source = `data folder ${o.data}`;
      const chainDir = join(o.data, 'chain');
      if (!existsSync(chainDir)) throw new Error(`${o.data} holds no chain (no ${chainDir})`);
      const store = await ChainStore.open(chainDir);
      try {
        const genesisText = await store.genesisJson();
        if (!genesisText) throw new Error(`${chainDir} holds no genesis: not an Ailo data folder, or it never started`);
        spec = parseGenesis(genesisText).spec;
        report = await auditStore(store, spec, { verifier, onProgress: progress, visit });
        fetchUpdate = folderUpdates(join(o.data, 'federation', 'updates'));
      } finally {
        await store.close();
      }
    } else {
      const url = o.node!.replace(/\/+$/, '');
      source = `node ${url}`;
      spec = parseGenesis(await fetchGenesisText(url)).spec;
      const claimed = await claimedFinal(url);
      const hashes: Hex[] = [];
      ({ report } = await replayChain(spec, httpBlocks(url), {
        verifier,
        onProgress: progress,
        visit: (b) => {
          hashes[Number(b.header.height)] = b.hash;
          visit?.(b);
        },
      }));
      // No more bytes than a dense update of the model: a node that streams without end costs a bounded memory.
      fetchUpdate = httpUpdates(url, 4 * paramCount(presetConfig(spec.model)) + 1024 * 1024);
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
  if (!o.models) return report.faults.length === 0 ? 0 : 1;
  if (report.faults.length > 0) {
    console.log('models: not recomputed (the chain has faults)');
    return 1;
  }
  if (history.versions.length === 0) {
    console.log('models: no model versions on the chain yet (version 0 is the genesis weights)');
    return 0;
  }
  let models: ModelAuditResult;
  try {
    models = await auditModels(
      spec!,
      history,
      fetchUpdate!,
      o.quiet ? undefined : (v) => process.stderr.write(`\rrecomputed model version ${v}`),
    );
  } catch (err) {
    if (!o.quiet) process.stderr.write('\n');
    if (!(err instanceof UpdateSourceError)) throw err;
    console.log(`models: the source is at fault, not the chain: ${err.message}`);
    return 1;
  }
  if (!o.quiet && models.versions > 0) process.stderr.write('\n');
  if (models.mismatch) {
    console.log(
      `models: version ${models.mismatch.version} does not match: ${models.mismatch.why} (${models.checked} earlier versions match)`,
    );
    return 1;
  }
  console.log(`models: all ${models.versions} versions recomputed from the genesis weights match their recorded manifest digests`);
  return report.faults.length === 0 ? 0 : 1;
}
