/** The audit report as text for a person: what was checked, what the ledger holds, and every fault found. */
import { toChecksumAddress } from '../../protocol/address.js';
import { formatAlc as formatAmount } from '../../protocol/amount.js';
import type { AuditReport } from './replay.js';

const formatAlc = (units: bigint): string => `${formatAmount(units)} ALC`;

export function formatReport(r: AuditReport, source: string): string {
  const txTotal = Object.values(r.txs).reduce((a, b) => a + b, 0);
  const seconds = r.elapsedMs / 1000;
  const lines = [
    `Ailo ledger audit of ${source}`,
    `  chain id          ${r.chainId}`,
    `  genesis           ${r.genesisHash}`,
    `  head              height ${r.headHeight}, ${r.headHash}`,
    `  blocks replayed   ${r.blocks} (hash links, seals, proposer rules, tx roots, state roots)`,
    `  transactions      ${txTotal} (signatures and state transitions): ${r.txs.transfer} transfers, ${r.txs.contribution} contributions, ` +
      `${r.txs.model_version} model versions, ${r.txs.inference_reward} inference rewards`,
    `  proposers         ${[...r.proposers].map(([a, n]) => `${toChecksumAddress(a)} ${n}`).join(', ') || 'none yet'}`,
    `  accounts          ${r.accounts}`,
    `  total supply      ${formatAlc(r.totalSupply)}`,
    `  contributions     ${r.contributions.total} (${r.contributions.aggregated} in published model versions, ` +
      `${r.contributions.awaitingVersion} awaiting one), rewards ${formatAlc(r.contributions.rewards)}`,
    `  model version     ${r.modelVersions}`,
    ...(r.finality
      ? [
          `  finality          ${r.finality.votes} coordinator votes checked against genesis (quorum ${r.finality.quorum}): ` +
            `final to height ${r.finality.finalized.height}, justified to ${r.finality.justified.height} (Casper FFG)`,
        ]
      : []),
    ...(r.convictions.length > 0 || (r.finality?.equivocators.length ?? 0) > 0
      ? [
          `  equivocation      ${r.convictions.map((c) => `${toChecksumAddress(c.offender)} convicted at block ${c.height} (${c.kind})`).join('; ') || 'none convicted'}` +
            `${r.finality?.equivocators.length ? `; conflicting votes held from ${r.finality.equivocators.map(toChecksumAddress).join(', ')}` : ''}`,
        ]
      : []),
    `  replay speed      ${seconds.toFixed(2)} s, ${Math.round(txTotal / Math.max(seconds, 1e-3)).toLocaleString('en-US')} tx/s`,
  ];
  if (r.faults.length === 0) lines.push('', 'RESULT: OK, no faults');
  else {
    lines.push('', `RESULT: ${r.faults.length} FAULT(S)`);
    for (const f of r.faults) lines.push(`  ${f.height !== undefined ? `block ${f.height}: ` : ''}${f.what}`);
  }
  return lines.join('\n');
}
