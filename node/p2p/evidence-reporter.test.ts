/**
 * The evidence reporter against a keyless attacker who tries to shield an equivocating proposer: it sends a forged
 * block (sealed by its own key, naming the proposer) for the proposer's slot first, so that the proposer's two real
 * children of one block would each be compared with the forgery. The real pair must still be reported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sealBlock } from '../../chain/block/block.js';
import { JsVerifier } from '../../chain/crypto/verifier.js';
import { testChains, testSpec, wallet } from '../../chain/test/fixtures.js';
import type { Chain } from '../../chain/chain.js';
import { LedgerService } from '../ledger-service.js';
import { waitFor } from '../test/harness.js';
import { EvidenceReporter } from './evidence-reporter.js';

const coordinators = [wallet(701), wallet(702), wallet(703), wallet(704)];
const spec = testSpec(coordinators.map((c) => c.address));

describe('equivocation reports', () => {
  const { open, cleanup } = testChains(spec);
  afterEach(cleanup);

  it("reports two real children of one block even after a forged block took the proposer's slot", async () => {
    const proposer = coordinators[1]!; // in turn at height 1
    const at = (chain: Chain, extra: bigint) => chain.head.header.timestamp + BigInt(spec.blockPeriodMs) + extra;
    const [a, b, node] = [await open(), await open(), await open()];
    const x = (await a.buildBlock([], proposer.key, proposer.address, at(a, 0n))).block;
    const y = (await b.buildBlock([], proposer.key, proposer.address, at(b, 1n))).block;
    const forged = sealBlock({ ...x.header, timestamp: at(a, 2n) }, [], wallet(666).key);
    const ledger = new LedgerService(node, new JsVerifier(), () => {});
    const lines: string[] = [];
    const reporter = new EvidenceReporter(ledger, coordinators[0]!.key, coordinators[0]!.address, (l) => lines.push(l));
    for (const block of [forged, x, y]) reporter.block(block);
    await waitFor('the equivocation to be reported', async () => (ledger.pool.size > 0 ? true : undefined), 5_000);
    const [report] = ledger.pool.take(1);
    expect(report!.tx).toMatchObject({ type: 'equivocation', offender: proposer.address, kind: 'headers' });
    expect(lines.join('\n')).toMatch(/equivocated \(two blocks at height 1 on one parent\)/);
  });
});
