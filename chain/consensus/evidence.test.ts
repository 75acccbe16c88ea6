/**
 * Accountability: a coordinator that signs two conflicting finality votes, or two children of one block, is convicted
 * by an `equivocation` transaction anyone can submit; from that block on its blocks are refused and its votes count
 * for nothing. Evidence that proves nothing, or that names the wrong coordinator, is refused by name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { auditStore } from '../audit/store-audit.js';
import { JsVerifier } from '../crypto/verifier.js';
import { BlockErrorCode, TxErrorCode } from '../errors.js';
import { networkDomain } from '../genesis-block.js';
import { ALC } from '../spec.js';
import { testChains, testSpec, transfer, wallet } from '../test/fixtures.js';
import { applyTx } from '../state/transition.js';
import { StateOverlay } from '../state/world-state.js';
import { signTx } from '../tx/sign.js';
import type { Chain } from '../chain.js';
import { sealBlock, txRootOf } from '../block/block.js';
import { headerEvidence, voteEvidence } from './evidence.js';
import { toHex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { encodeVote, signVote, type Checkpoint } from './finality.js';

const coordinators = [wallet(31), wallet(32), wallet(33), wallet(34)];
const [alice, bob, reporter] = [wallet(35), wallet(36), wallet(37)];
const spec = testSpec(
  coordinators.map((c) => c.address),
  [[alice.address, 10n * ALC]],
);
const network = networkDomain(spec);

describe('equivocation evidence', () => {
  const { open, cleanup } = testChains(spec);
  afterEach(cleanup);
  const at = (chain: Chain, delay = 0) => chain.head.header.timestamp + BigInt(spec.blockPeriodMs + delay);
  const report = (ev: ReturnType<typeof voteEvidence>) =>
    signTx({ type: 'equivocation', reporter: reporter.address, ...ev }, reporter.key, network);

  it('convicts a double-voting coordinator: its later votes count for nothing and its blocks are refused', async () => {
    const chain = await open();
    const [c0, c1, c2, c3] = coordinators as [typeof alice, typeof alice, typeof alice, typeof alice];
    // c1 is in turn at height 1.
    const b1 = (await chain.buildBlock([transfer(alice, bob.address, 1n, 0n, spec)], c1.key, c1.address, at(chain))).block;
    const g: Checkpoint = { hash: chain.genesisHash, height: 0n };
    const cp1: Checkpoint = { hash: b1.hash, height: 1n };
    const elsewhere: Checkpoint = { hash: `0x${'ab'.repeat(32)}`, height: 1n };
    // c3 votes for block 1 and for another block at height 1: a double vote. The chain spots it on intake.
    const honest = signVote(chain.genesisHash, g, cp1, c3.key, c3.address);
    const twin = signVote(chain.genesisHash, g, elsewhere, c3.key, c3.address);
    const intake = await chain.addVotes([encodeVote(honest), encodeVote(twin)]);
    expect(intake.conflicts).toHaveLength(1);
    expect(intake.conflicts[0]!.kind).toBe('double');
    // Once caught, its votes for blocks this node does not hold are not kept: a flood of them costs nothing.
    const flood = Array.from({ length: 50 }, (_, i) =>
      encodeVote(signVote(chain.genesisHash, g, { hash: toHex(keccak256(Uint8Array.of(i))), height: 1n }, c3.key, c3.address)),
    );
    const afterFlood = await chain.addVotes(flood);
    expect([afterFlood.added.length, afterFlood.conflicts.length, afterFlood.stale]).toEqual([0, 0, 50]);
    let stored = 0;
    for await (const _ of chain.store.voteEntries()) stored++;
    expect(stored).toBe(2);

    // Evidence that proves nothing is refused by name, and changes nothing.
    const view = new StateOverlay(chain.state);
    const notConflicting = report(
      voteEvidence(honest, signVote(chain.genesisHash, cp1, { hash: `0x${'cd'.repeat(32)}`, height: 2n }, c3.key, c3.address)),
    );
    expect(() => applyTx(view, notConflicting, spec)).toThrow(expect.objectContaining({ code: TxErrorCode.BAD_EVIDENCE }));
    const framed = report({ ...voteEvidence(honest, twin), offender: c2.address });
    expect(() => applyTx(view, framed, spec)).toThrow(/both votes must be signed by/);
    expect(view.convicted(c3.address)).toBe(false);

    const conviction = report(voteEvidence(honest, twin));
    const b2 = (await chain.buildBlock([conviction], c2.key, c2.address, at(chain))).block;
    expect(b2.txs).toHaveLength(1);
    expect(chain.view().convicted(c3.address)).toBe(true);
    // A second report of the same offender is a duplicate.
    expect(() => applyTx(new StateOverlay(chain.state), report(voteEvidence(twin, honest)), spec)).toThrow(
      expect.objectContaining({ code: TxErrorCode.DUPLICATE }),
    );

    // From here on c3's votes do not count: three votes of four are a quorum, but not with c3 among them.
    const cp2: Checkpoint = { hash: b2.hash, height: 2n };
    await chain.addVotes([c0, c1, c3].map((w) => encodeVote(signVote(chain.genesisHash, g, cp2, w.key, w.address))));
    expect(chain.finality.justified.height).toBe(0n);
    await chain.addVotes([encodeVote(signVote(chain.genesisHash, g, cp2, c2.key, c2.address))]);
    expect(chain.finality.justified.height).toBe(2n);
    // ...and its blocks are refused (c3 is in turn at height 3).
    await expect(chain.buildBlock([], c3.key, c3.address, at(chain))).rejects.toMatchObject({ code: BlockErrorCode.NOT_AUTHORIZED });
    // A block c3 seals anyway (say its node missed the conviction) is refused on import by name.
    const forged = sealBlock(
      {
        chainId: spec.chainId,
        height: 3n,
        parentHash: b2.hash,
        timestamp: at(chain),
        proposer: c3.address,
        txRoot: txRootOf([]),
        stateRoot: b2.header.stateRoot,
      },
      [],
      c3.key,
    );
    await expect(chain.importBlock(forged)).rejects.toThrow(/convicted of equivocation/);

    const audit = await auditStore(chain.store, spec, { verifier: new JsVerifier() });
    expect(audit.faults).toEqual([]);
    expect(audit.convictions.map((c) => [c.offender, c.kind, c.height])).toEqual([[c3.address, 'votes', 2n]]);
  });

  it('convicts a proposer that sealed two children of one block, and not one that sealed again on another fork', async () => {
    const [a, b] = [await open(), await open()];
    const c1 = coordinators[1]!;
    const x = (await a.buildBlock([transfer(alice, bob.address, 1n, 0n, spec)], c1.key, c1.address, at(a))).block;
    const y = (await b.buildBlock([transfer(alice, bob.address, 2n, 0n, spec)], c1.key, c1.address, at(b))).block;
    const view = new StateOverlay(a.state);
    applyTx(
      view,
      signTx(
        {
          type: 'equivocation',
          reporter: reporter.address,
          offender: c1.address,
          kind: 'headers',
          evidence: [headerEvidence(x), headerEvidence(y)],
        },
        reporter.key,
        network,
      ),
      spec,
    );
    expect(view.convicted(c1.address)).toBe(true);
    // Blocks at one height on different parents are what an honest proposer seals after switching forks.
    const c2 = coordinators[2]!;
    const onX = (await a.buildBlock([], c2.key, c2.address, at(a))).block;
    const onY = (await b.buildBlock([], c2.key, c2.address, at(b))).block;
    expect([onX.header.height, onY.header.height]).toEqual([2n, 2n]);
    expect(() =>
      applyTx(
        new StateOverlay(a.state),
        signTx(
          {
            type: 'equivocation',
            reporter: reporter.address,
            offender: c2.address,
            kind: 'headers',
            evidence: [headerEvidence(onX), headerEvidence(onY)],
          },
          reporter.key,
          network,
        ),
        spec,
      ),
    ).toThrow(/not children of one parent/);
  });
});
