/**
 * The audit of finality: every finality vote the source holds is decoded, its signer recovered and checked against
 * the genesis coordinators alone, and Casper FFG (consensus/finality.ts) is run over the replayed chain, so the
 * auditor computes for itself which blocks are justified and final. A source that claims a final block its votes do
 * not prove (or one off the replayed chain) is a fault; two conflicting votes of one coordinator are listed as
 * equivocation seen.
 */
import type { Address } from '../../protocol/address.js';
import type { Hex } from '../../protocol/bytes.js';
import { decodeVote, FinalityTracker, quorum, voteDigest, type Checkpoint, type Vote } from '../consensus/finality.js';
import type { SignatureVerifier } from '../crypto/verifier.js';
import { networkDomain } from '../genesis-block.js';
import type { ChainSpec } from '../spec.js';
import type { AuditFault } from './replay.js';

export interface FinalityReport {
  votes: number;
  quorum: number;
  justified: Checkpoint;
  finalized: Checkpoint;
  /** Coordinators whose votes among those held conflict (double or surround votes). */
  equivocators: Address[];
  faults: AuditFault[];
}

const BATCH = 8192;

/**
 * `hashes` is the replayed canonical chain (index = height); `votes` every vote the source holds, in any order;
 * `claimed` the final block the source says it has, if it says one.
 */
export async function auditFinality(
  spec: ChainSpec,
  hashes: readonly Hex[],
  votes: AsyncIterable<Uint8Array[]>,
  verifier: SignatureVerifier,
  claimed?: Checkpoint,
): Promise<FinalityReport> {
  const { genesisHash } = networkDomain(spec);
  const tracker = new FinalityTracker(spec.coordinators, genesisHash);
  const report: FinalityReport = {
    votes: 0,
    quorum: quorum(spec.coordinators.length),
    justified: { hash: genesisHash, height: 0n },
    finalized: { hash: genesisHash, height: 0n },
    equivocators: [],
    faults: [],
  };
  const equivocators = new Set<Address>();
  for await (const page of votes) {
    for (let at = 0; at < page.length; at += BATCH) {
      const chunk = page.slice(at, at + BATCH);
      const decoded: ReturnType<typeof decodeVote>[] = [];
      for (const bytes of chunk) {
        try {
          decoded.push(decodeVote(bytes));
        } catch (err) {
          report.faults.push({ what: `a stored finality vote is malformed: ${(err as Error).message}` });
        }
      }
      const signers = await verifier.recoverMany(
        decoded.map((d) => voteDigest(genesisHash, d.source, d.target)),
        decoded.map((d) => d.signature),
      );
      decoded.forEach((fields, i) => {
        const voter = signers[i];
        if (!voter || !spec.coordinators.includes(voter)) {
          report.faults.push({
            height: fields.target.height,
            what: `a stored finality vote for ${fields.target.hash} is signed by ${voter ?? 'no key'}, not a coordinator`,
          });
          return;
        }
        const vote: Vote = { voter, ...fields };
        const result = tracker.add(vote);
        if (result === 'known') return;
        report.votes++;
        if (typeof result === 'object') equivocators.add(voter);
      });
    }
  }
  const status = tracker.update({ height: BigInt(hashes.length - 1), hashAt: (h) => hashes[Number(h)] });
  report.justified = status.justified;
  report.finalized = status.finalized;
  report.equivocators = [...equivocators];
  if (claimed && claimed.height > 0n) {
    if (hashes[Number(claimed.height)] !== claimed.hash) {
      report.faults.push({
        height: claimed.height,
        what: `the source claims block ${claimed.hash} final, but the replayed chain holds ${hashes[Number(claimed.height)] ?? 'nothing'} at that height`,
      });
    } else if (claimed.height > status.finalized.height) {
      report.faults.push({
        height: claimed.height,
        what: `the source claims block ${claimed.height} final, but its votes prove finality only up to ${status.finalized.height}`,
      });
    }
  }
  return report;
}
