/**
 * `ailo audit` end to end: a data folder written by a real node passes; the same folder with one stored block,
 * one state entry or one index entry corrupted fails, and the report names the block and what failed.
 */
import { execFile } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../protocol/bytes.js';
import { encodeVote, signVote } from '../../chain/consensus/finality.js';
import { wallet } from '../../chain/test/fixtures.js';
import { ChainStore } from '../../chain/store/chain-store.js';
import type { AiloNode } from '../node.js';
import { bob, coordinator, get, post, signedTransfer, startTestNode, testNet, waitFor, waitQuiet, type TestNet } from '../test/harness.js';

const run = promisify(execFile);

async function audit(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'node/ailo-cli.ts', 'audit', '--quiet', ...args]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

/** Opens a copy of the data folder, lets `damage` change its LevelDB, and returns the copy's path. */
async function corruptedCopy(net: TestNet, name: string, damage: (store: ChainStore) => Promise<void>): Promise<string> {
  const dir = join(net.root, name);
  cpSync(join(net.root, 'data'), dir, { recursive: true });
  const store = await ChainStore.open(join(dir, 'chain'));
  await damage(store);
  await store.close();
  return dir;
}

const bin = { keyEncoding: 'view', valueEncoding: 'view' } as const;

describe('ailo audit', () => {
  let net: TestNet;
  let node: AiloNode;
  /** The block holding the second transfer (its amount is 11), its height, and how many blocks the chain has. */
  let blockTwo: `0x${string}`;
  let heightTwo: bigint;
  let blockCount: bigint;

  beforeAll(async () => {
    net = testNet(20);
    node = await startTestNode(net);
    const hashes: `0x${string}`[] = [];
    for (let nonce = 0n; nonce < 3n; nonce++) {
      const r = await post(`${node.url}/api/ledger/transfer`, await signedTransfer(102, bob.address, 10n + nonce, nonce, net.network));
      await waitFor('confirmation', async () =>
        (await get(`${node.url}/api/ledger/tx/${r.json.hash}`)).json.status === 'confirmed' ? true : undefined,
      );
      hashes.push(r.json.hash);
    }
    await waitQuiet(node.url);
    const audited = await audit('--node', node.url);
    expect(audited.code, audited.out).toBe(0);
    await node.stop();
    const store = await ChainStore.open(join(net.root, 'data', 'chain'));
    heightTwo = (await store.txLocation(hashes[1]!))!.height;
    blockTwo = (await store.hashAtHeight(heightTwo))!;
    blockCount = 0n;
    for await (const _ of store.heightIndex()) blockCount++;
    await store.close();
  });
  afterAll(() => net.remove());

  it('passes a healthy data folder and reports what it holds', async () => {
    const { code, out } = await audit('--data', join(net.root, 'data'));
    expect(code, out).toBe(0);
    expect(out).toContain('RESULT: OK');
    expect(out).toMatch(/3 transfers/);
    expect(out).toMatch(new RegExp(`blocks replayed\\s+${blockCount}\\b`));
    // Finality is recomputed from the coordinator's votes, checked against genesis alone.
    const final = /final to height (\d+)/.exec(out);
    expect(BigInt(final![1]!)).toBeGreaterThanOrEqual(heightTwo);
  });

  it('catches a claim of finality that the stored votes do not prove, and a vote signed by a stranger', async () => {
    const unproven = await corruptedCopy(net, 'no-votes', async (store) => {
      await store.db.sublevel<Uint8Array, Uint8Array>('votes', bin).clear();
    });
    const a = await audit('--data', unproven);
    expect(a.code).toBe(1);
    expect(a.out).toMatch(/claims block \d+ final, but its votes prove finality only up to 0/);

    const forged = await corruptedCopy(net, 'stranger-vote', async (store) => {
      const stranger = wallet(999);
      const hash = (await store.hashAtHeight(1n))!;
      const vote = signVote(
        net.network.genesisHash,
        { hash: net.network.genesisHash, height: 0n },
        { hash, height: 1n },
        stranger.key,
        stranger.address,
      );
      await store.putVotes([{ vote: { ...vote, voter: coordinator.address }, bytes: encodeVote(vote) }]);
    });
    const b = await audit('--data', forged);
    expect(b.code).toBe(1);
    expect(b.out).toContain(`signed by ${wallet(999).address}, not a coordinator`);
  });

  it('catches a tampered transaction inside a stored block', async () => {
    const dir = await corruptedCopy(net, 'tampered-block', async (store) => {
      const blocks = store.db.sublevel<Uint8Array, Uint8Array>('blocks', bin);
      const key = fromHex(blockTwo, 32);
      const bytes = (await blocks.get(key))!;
      // The amount of block 2's transfer is 11: find that byte inside the RLP and make it 99.
      const at = bytes.lastIndexOf(11);
      const forged = Uint8Array.from(bytes);
      forged[at] = 99;
      await blocks.put(key, forged);
    });
    const { code, out } = await audit('--data', dir);
    expect(code).toBe(1);
    expect(out).toContain(`block ${heightTwo}: transaction root does not match its transactions`);
    expect(out).toContain('FAULT');
  });

  it('catches a stored state entry that differs from the replay', async () => {
    const dir = await corruptedCopy(net, 'tampered-state', async (store) => {
      const state = store.db.sublevel<Uint8Array, Uint8Array>('state', bin);
      for await (const [key, value] of state.iterator({ limit: 1 })) await state.put(key, Uint8Array.from([...value, 0]));
    });
    const { code, out } = await audit('--data', dir);
    expect(code).toBe(1);
    expect(out).toMatch(/stored state entry 0x[0-9a-f]{64} differs from the replay/);
  });

  it('catches a transaction index that points at the wrong place', async () => {
    const dir = await corruptedCopy(net, 'tampered-index', async (store) => {
      const txs = store.db.sublevel<Uint8Array, Uint8Array>('txs', bin);
      for await (const [key] of txs.iterator({ limit: 1 })) await txs.del(key);
    });
    const { code, out } = await audit('--data', dir);
    expect(code).toBe(1);
    expect(out).toMatch(/missing from the transaction index/);
  });

  it('says clearly when the folder is not a data folder', async () => {
    const { code, out } = await audit('--data', join(net.root, 'nowhere'));
    expect(code).toBe(1);
    expect(out).toMatch(/holds no chain/);
  });
});
