/**
 * Rounds that rotate and survive a coordinator (issue 13), as real processes: three coordinators (`ailo-node`
 * children with small round settings) and two miners. Every coordinator issues tasks and verifies the submissions
 * it accepts; the live coordinators take turns closing rounds (version mod count). The coordinator running the round
 * is killed with SIGKILL while that round holds accepted work; the rounds go on closing on the two others without
 * anyone stepping in, the miner that was talking to the killed one moves to another coordinator by itself, both
 * survivors hold byte-identical model versions, and `ailo audit --models` recomputes the whole history from a
 * survivor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { fromHex } from '../../protocol/bytes.js';
import { decodeBlock } from '../../chain/block/block.js';
import { Miner } from '../../trainer/miner/miner.js';
import { taskRequestSigner } from '../ailo-miner/task-signer.js';
import { auditCommand } from '../commands/audit.js';
import { get, waitFor } from '../test/harness.js';
import { spawnCoordinators, type NodeProcess } from '../test/process.js';

const ROUNDS = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 2, roundMs: 30_000, density: 0.01 };
const coordinators = [wallet(701), wallet(702), wallet(703)];
const miners = [wallet(711), wallet(712)];

describe('rounds across three coordinators', () => {
  const root = mkdtempSync(join(tmpdir(), 'ailo-rotation-'));
  const nodes: NodeProcess[] = [];
  const stop = new AbortController();
  afterAll(() => {
    stop.abort();
    for (const n of nodes) n.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  const round = (url: string) => get(`${url}/api/round`).then((r) => r.json);
  /** The latest model version the node's chain holds. */
  const latest = async (url: string): Promise<number> => (await get(`${url}/api/status`)).json.globalModelVersion as number;

  it('keeps closing rounds after the round runner is killed, and every survivor holds the same versions', async () => {
    const network = await spawnCoordinators(root, { name: 'ailo-rotation', chainId: 792n, keys: coordinators, rounds: ROUNDS });
    nodes.push(...network.nodes);
    const urls = nodes.map((n) => n.url);
    await waitFor(
      'every coordinator to see the others live',
      async () => {
        for (const url of urls)
          if ((await round(url)).coordinators?.filter((c: { live: boolean }) => c.live).length !== 3) return undefined;
        return true;
      },
      30_000,
    );

    // Miner 0 talks to coordinator 0, miner 1 to coordinator 1; each coordinator verifies what it is sent.
    const logs: string[][] = [[], []];
    const runs = miners.map((m, i) =>
      new Miner({
        wallet: toChecksumAddress(m.address),
        signTaskRequest: taskRequestSigner(m.key, urls[i]!),
        nodeUrl: urls[i]!,
        provider: 'cpu',
        power: 100,
        cacheDir: join(root, `cache${i}`),
        signal: stop.signal,
        retry: { attempts: 2, baseMs: 200, maxMs: 500 },
        log: (line) => logs[i]!.push(line),
      }).run(),
    );
    runs.forEach((r) => r.catch(() => undefined));

    // The coordinator that closes the round under way (version mod 3) is killed once that round holds accepted
    // work; it is one that a miner is talking to, so that miner has to find another coordinator by itself.
    const { version: killedOn, runner } = await waitFor(
      'a round with accepted work, run by a coordinator a miner talks to',
      async () => {
        for (const url of urls.slice(0, 2)) {
          const r = await round(url);
          if (r.accepted >= 1 && r.runner === r.coordinator) return r;
        }
        return undefined;
      },
      240_000,
    );
    const victim = coordinators.findIndex((c) => toChecksumAddress(c.address) === toChecksumAddress(runner));
    expect([0, 1]).toContain(victim);
    nodes[victim]!.child.kill('SIGKILL');
    await nodes[victim]!.exited;
    const survivors = urls.filter((_, i) => i !== victim);

    // Without anyone stepping in, the survivors close two more rounds, taking turns.
    await waitFor(
      `two versions after ${killedOn} without coordinator ${victim}`,
      async () => ((await latest(survivors[0]!)) >= killedOn + 2 ? true : undefined),
      300_000,
    );
    stop.abort();
    await Promise.allSettled(runs);
    expect(logs[victim]!.join('\n')).toMatch(/does not answer .*going on with http/);
    const signer = async (version: number): Promise<string> => {
      for (let from = 1; ; from += 500) {
        const page = (await get(`${survivors[0]}/api/chain/blocks?from=${from}&limit=500`)).json;
        if (page.blocks.length === 0) throw new Error(`version ${version} is not on the chain`);
        for (const b of page.blocks)
          for (const { tx } of decodeBlock(fromHex(b.raw)).txs)
            if (tx.type === 'model_version' && tx.version === BigInt(version)) return toChecksumAddress(tx.coordinator);
      }
    };
    const published = [await signer(killedOn + 1), await signer(killedOn + 2)];
    expect(published[0]).not.toBe(published[1]);
    expect(published).not.toContain(toChecksumAddress(coordinators[victim]!.address));

    // Both survivors hold the same model versions, byte for byte (the manifest digest names every chunk's sha256).
    await waitFor(
      'the survivors to agree on the head',
      async () => {
        const heads = await Promise.all(survivors.map((u) => get(`${u}/api/chain/head`).then((r) => r.json.hash)));
        return heads[0] === heads[1] ? true : undefined;
      },
      30_000,
    );
    const top = await latest(survivors[0]!);
    for (let v = 1; v <= top; v++) {
      const manifests = await Promise.all(survivors.map((u) => get(`${u}/api/model?version=${v}`)));
      if (manifests.some((m) => m.status !== 200)) continue; // versions older than the staleness window are pruned
      expect(manifests[0]!.json.manifestDigest).toBe(manifests[1]!.json.manifestDigest);
      expect(manifests[0]!.json.manifest.chunks).toEqual(manifests[1]!.json.manifest.chunks);
    }
    for (const url of survivors) expect(await auditCommand({ node: url, models: true, quiet: true })).toBe(0);
  }, 900_000);
});
