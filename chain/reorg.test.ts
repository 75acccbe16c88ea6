import { afterEach, describe, expect, it } from 'vitest';
import { auditStore } from './audit/store-audit.js';
import { JsVerifier } from './crypto/verifier.js';
import { BlockErrorCode } from './errors.js';
import { ALC } from './spec.js';
import { openTestChain, tempDir, testSpec, transfer, wallet } from './test/fixtures.js';
import type { Chain } from './chain.js';
import { encodeVote, signVote } from './consensus/finality.js';

const [c1, c2, c3] = [wallet(11), wallet(12), wallet(13)];
const alice = wallet(2);
const bob = wallet(3);
const carol = wallet(4);
const spec = testSpec([c1.address, c2.address, c3.address], [[alice.address, 100n * ALC]]);

describe('rolling back to a heavier fork', () => {
  const dirs: (() => void)[] = [];
  afterEach(() => dirs.splice(0).forEach((rm) => rm()));
  const open = async (): Promise<Chain> => {
    const t = tempDir();
    dirs.push(t.remove);
    return openTestChain(spec, t.dir);
  };
  const after = (chain: Chain, delayMs: number) => chain.head.header.timestamp + BigInt(spec.blockPeriodMs + delayMs);

  it('undoes state, indexes and history of the lighter branch, then follows the heavier one', async () => {
    const heavy = await open();
    const light = await open();
    // Heavy: height 1 by its in-turn signer c2. Light: height 1 by c1 out of turn, spending alice's nonce 0 elsewhere.
    const toBob = transfer(alice, bob.address, 5n * ALC, 0n, spec);
    const toCarol = transfer(alice, carol.address, 7n * ALC, 0n, spec);
    const h1 = (await heavy.buildBlock([toBob], c2.key, c2.address, after(heavy, 0))).block;
    await light.buildBlock([toCarol], c1.key, c1.address, after(light, spec.outOfTurnDelayMs));
    expect(light.account(carol.address).balance).toBe(7n * ALC);
    expect(light.totalWeight).toBe(1n);
    expect(heavy.totalWeight).toBe(2n);

    const removed = await light.rollbackTo(0n);
    expect(removed.map((b) => b.txs[0]!.hash)).toEqual([toCarol.hash]);
    expect(light.height).toBe(0n);
    expect(light.totalWeight).toBe(0n);
    expect(light.account(carol.address).balance).toBe(0n);
    expect(light.account(alice.address)).toEqual({ balance: 100n * ALC, nonce: 0n });
    expect(await light.txByHash(toCarol.hash)).toBeUndefined();
    expect(await light.store.historyPage(carol.address, 10)).toEqual([]);

    await light.importBlock(h1);
    expect(light.head.hash).toBe(heavy.head.hash);
    expect(light.account(bob.address).balance).toBe(5n * ALC);
    const report = await auditStore(light.store, spec, { verifier: new JsVerifier() });
    expect(report.faults).toEqual([]);
    await light.store.close();

    // The rollback survives a reopen: the store says what memory said.
    const reopened = await openTestChain(spec, (light.store as unknown as { db: { location: string } }).db.location);
    expect(reopened.head.hash).toBe(h1.hash);
    expect(reopened.totalWeight).toBe(2n);
    await reopened.store.close();
    await heavy.store.close();
  });

  it('refuses to roll back a block a quorum of coordinator votes finalized, also after a reopen', async () => {
    const chain = await open();
    const b1 = (await chain.buildBlock([transfer(alice, bob.address, 1n, 0n, spec)], c2.key, c2.address, after(chain, 0))).block;
    const b2 = (await chain.buildBlock([transfer(alice, bob.address, 1n, 1n, spec)], c3.key, c3.address, after(chain, 0))).block;
    // Blocks alone finalize nothing, whoever signed them.
    expect(chain.finalizedHeight()).toBe(0n);
    const g = { hash: chain.genesisHash, height: 0n };
    const cp1 = { hash: b1.hash, height: 1n };
    const cp2 = { hash: b2.hash, height: 2n };
    const votes = (s: typeof g, t: typeof g, who = [c1, c2, c3]) =>
      who.map((w) => encodeVote(signVote(chain.genesisHash, s, t, w.key, w.address)));
    // Two of three votes are no quorum (floor(2*3/3)+1 = 3).
    await chain.addVotes(votes(g, cp1, [c1, c2]));
    expect(chain.finality.justified.height).toBe(0n);
    await chain.addVotes(votes(g, cp1, [c3]));
    expect(chain.finality.justified.height).toBe(1n);
    const intake = await chain.addVotes(votes(cp1, cp2));
    expect(intake.added).toHaveLength(3);
    expect(chain.finality).toMatchObject({ finalized: cp1, justified: cp2 });
    expect((await chain.certificate(2n))!.map((v) => v.voter).sort()).toEqual([c1, c2, c3].map((w) => w.address).sort());
    await expect(chain.rollbackTo(0n)).rejects.toMatchObject({ code: BlockErrorCode.BELOW_FINALITY });
    // A vote signed by no coordinator counts for nothing and is named.
    const stranger = await chain.addVotes(votes(cp1, cp2, [alice]));
    expect(stranger.invalid[0]!.reason).toMatch(/not a coordinator/);
    const removed = await chain.rollbackTo(1n);
    expect(removed).toHaveLength(1);
    expect(chain.height).toBe(1n);
    expect(chain.finalizedHeight()).toBe(1n);
    const dir = (chain.store as unknown as { db: { location: string } }).db.location;
    await chain.store.close();
    const reopened = await openTestChain(spec, dir);
    expect(reopened.finalizedHeight()).toBe(1n);
    // Certificates come from the stored votes, so a restart keeps them.
    expect((await reopened.certificate(1n))!.map((v) => v.voter).sort()).toEqual([c1, c2, c3].map((w) => w.address).sort());
    await expect(reopened.rollbackTo(0n)).rejects.toMatchObject({ code: BlockErrorCode.BELOW_FINALITY });
    await reopened.store.close();
  });

  it("keeps a coordinator's vote promise across a restart: it never casts two votes for one height", async () => {
    // `chain` is coordinator c2's node; the other stores stand for c1's and c3's.
    const chain = await open();
    const b1 = (
      await (await open()).buildBlock([transfer(alice, bob.address, 1n, 0n, spec)], c1.key, c1.address, after(chain, spec.outOfTurnDelayMs))
    ).block;
    const b1alt = (
      await (
        await open()
      ).buildBlock([transfer(alice, carol.address, 1n, 0n, spec)], c3.key, c3.address, after(chain, spec.outOfTurnDelayMs + 1))
    ).block;
    await chain.importBlock(b1);
    expect(await chain.voteOnHead(c2.key, c2.address)).toBeDefined();
    expect(await chain.voteOnHead(c2.key, c2.address)).toBeUndefined();
    // Another block at the voted height, then a restart: still no second vote at height 1.
    await chain.rollbackTo(0n);
    await chain.importBlock(b1alt);
    const dir = (chain.store as unknown as { db: { location: string } }).db.location;
    await chain.store.close();
    const reopened = await openTestChain(spec, dir);
    expect(reopened.head.hash).toBe(b1alt.hash);
    expect(await reopened.voteOnHead(c2.key, c2.address)).toBeUndefined();
    // ...and it never seals a second block at a height it sealed (two blocks at one height are evidence).
    await reopened.buildBlock([], c1.key, c1.address, after(reopened, spec.outOfTurnDelayMs));
    expect(await reopened.voteOnHead(c2.key, c2.address)).toBeDefined();
    await reopened.rollbackTo(1n);
    await expect(reopened.buildBlock([], c1.key, c1.address, after(reopened, spec.outOfTurnDelayMs))).rejects.toMatchObject({
      code: BlockErrorCode.ALREADY_SEALED,
    });
    await reopened.store.close();
  });
});
