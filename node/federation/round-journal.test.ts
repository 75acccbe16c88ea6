/**
 * A coordinator stopped mid-round (or killed: the journal is synced before the contribution is submitted) resumes
 * the same round after a restart, and the next model version aggregates the contribution accepted before it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { auditCommand } from '../commands/audit.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { wallet } from '../../chain/test/fixtures.js';
import { Miner } from '../../trainer/miner/miner.js';
import { taskRequestSigner } from '../ailo-miner/task-signer.js';
import type { AiloNode } from '../node.js';
import { get, startTestNode, testNet, waitFor } from '../test/harness.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 2, roundMs: 600_000, density: 0.01 };

describe('an interrupted round', () => {
  const net = testNet(50);
  const cache = mkdtempSync(join(tmpdir(), 'ailo-journal-'));
  const data = join(net.root, 'data');
  let node: AiloNode | undefined;
  afterAll(async () => {
    await node?.stop();
    net.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  const mine = async (n: number, url: string) => {
    const m = new Miner({
      wallet: toChecksumAddress(wallet(505).address),
      signTaskRequest: taskRequestSigner(wallet(505).key, url),
      nodeUrl: url,
      provider: 'cpu',
      power: 100,
      cacheDir: cache,
      maxTasks: n,
    });
    const summary = await m.run();
    expect(summary.accepted, JSON.stringify(summary.rejections)).toHaveLength(n);
    return summary.accepted.map((a) => a.contribution as `0x${string}`);
  };

  it('is resumed after a restart and its contributions are aggregated into the next version', async () => {
    const firstLog: string[] = [];
    node = await startTestNode(net, data, { federation: FED, log: (l) => firstLog.push(l) });
    // Version 0 is made from the seed once, saying how far it is (issue 14: on ailo-1b it takes about a minute).
    expect(firstLog.join('\n')).toMatch(
      /federation: making the genesis weights of ailo-tiny \([0-9,]+ parameters, seed 1\): 100% \([0-9.]+ s\)/,
    );
    expect(firstLog.join('\n')).toMatch(/federation: writing version 0 to .* \([0-9]+ chunks\): 100%/);
    const [first] = await mine(1, node.url);
    await waitFor('the first contribution in a block', async () =>
      (await get(`${node!.url}/api/ledger/tx/${first}`)).json.status === 'confirmed' ? true : undefined,
    );
    expect((await get(`${node.url}/api/round`)).json.accepted).toBe(1);
    await node.stop();

    const secondLog: string[] = [];
    node = await startTestNode(net, data, { federation: FED, log: (l) => secondLog.push(l) });
    expect(secondLog.join('\n')).not.toMatch(/making the genesis weights/);
    expect((await get(`${node.url}/api/round`)).json).toMatchObject({ version: 0, accepted: 1 });
    const [second] = await mine(1, node.url);
    const version = await waitFor(
      'model version 1 on the ledger',
      async () => (node!.chain.view().meta().latestModelVersion === 1n ? true : undefined),
      60_000,
    );
    expect(version).toBe(true);
    const view = node.chain.view();
    expect(view.contribution(first!)?.aggregatedIn).toBe(1n);
    expect(view.contribution(second!)?.aggregatedIn).toBe(1n);
    // The version made from an update accepted before the restart (kept from the journal) and one after it is what
    // anyone recomputes from the genesis weights and the served updates.
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await auditCommand({ node: node.url, models: true, quiet: true })).toBe(0);
      expect(log.mock.calls.flat().join('\n')).toMatch(/models: all 1 versions recomputed from the genesis weights match/);
    } finally {
      log.mockRestore();
    }

    // A stored version that is not the one the ledger records (a crash between writing a try and the ledger taking
    // another) is refused at start: rounds built on it would publish versions no audit recomputes.
    await node.stop();
    const stored = join(data, 'federation', 'versions', '1.json');
    const signed = JSON.parse(readFileSync(stored, 'utf8')) as { manifestDigest: string };
    const recorded = signed.manifestDigest;
    writeFileSync(stored, JSON.stringify({ ...signed, manifestDigest: `0x${'ab'.repeat(32)}` }));
    await expect(startTestNode(net, data, { federation: FED })).rejects.toThrow(
      `versions/1.json has manifest digest 0x${'ab'.repeat(32)}, but the ledger records ${recorded} for version 1`,
    );
    writeFileSync(stored, JSON.stringify(signed));
    node = await startTestNode(net, data, { federation: FED });
  }, 180_000);
});
