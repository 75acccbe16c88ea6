/**
 * Real node processes split in two by proxies that drop traffic between them: four coordinators (quorum 3), three
 * on one side, one and a follower on the other. Both sides seal blocks; only the side with a quorum of finality
 * votes finalizes. Healed, everyone follows the chain with the higher justified checkpoint, no final transaction is
 * lost, the minority's transfer is sealed again on that chain, and every data folder passes the audit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditStore } from '../../chain/audit/store-audit.js';
import { toHex } from '../../protocol/bytes.js';
import { JsVerifier } from '../../chain/crypto/verifier.js';
import { ALC } from '../../chain/spec.js';
import { ChainStore } from '../../chain/store/chain-store.js';
import { wallet } from '../../chain/test/fixtures.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis, parseGenesis } from '../../genesis/genesis.js';
import { get, networkOfGenesis, post, signedTransfer, waitFor, waitQuiet } from '../test/harness.js';
import { PartitionProxy } from '../test/partition-proxy.js';
import { spawnNode, type NodeProcess } from '../test/process.js';

const CHAIN_ID = 779n;
const coordinators = [wallet(301), wallet(302), wallet(303), wallet(304)];
const senderKeys = [311, 312];
const receiver = wallet(320);

describe('a partitioned network', () => {
  const root = mkdtempSync(join(tmpdir(), 'ailo-part-'));
  const genesisPath = join(root, 'genesis.json');
  const genesisText = formatGenesis(
    genesisFor({
      name: 'ailo-partition',
      chainId: CHAIN_ID,
      coordinators: coordinators.map((c) => c.address),
      alloc: new Map(senderKeys.map((k) => [wallet(k).address, 100n * ALC])),
      blockPeriodMs: 150,
      outOfTurnDelayMs: 150,
      timestamp: 1_700_000_000_000n,
    }),
  );
  writeFileSync(genesisPath, genesisText);
  const network = networkOfGenesis(genesisText);
  coordinators.forEach((c, i) => writeFileSync(join(root, `c${i}.key`), toHex(c.key)));
  const running: NodeProcess[] = [];
  const proxies: PartitionProxy[] = [];
  afterAll(async () => {
    for (const n of running) n.child.kill('SIGKILL');
    for (const p of proxies) await p.close();
    rmSync(root, { recursive: true, force: true });
  });

  const tx = (url: string, hash: string) => get(`${url}/api/ledger/tx/${hash}`).then((r) => r.json);

  it('rejoins one chain after a partition without losing a finalized transaction', async () => {
    const names = ['c0', 'c1', 'c2', 'c3', 'f'];
    for (let i = 0; i < names.length; i++) proxies.push(await PartitionProxy.start());
    const nodes: NodeProcess[] = [];
    for (let i = 0; i < names.length; i++) {
      const peers = proxies
        .filter((_, j) => j !== i)
        .map((p) => p.url)
        .join(',');
      const node = await spawnNode([
        '--data',
        join(root, names[i]!),
        '--port',
        '0',
        '--genesis',
        genesisPath,
        '--no-federation',
        '--public-url',
        proxies[i]!.url,
        '--peers',
        peers,
        ...(i < 4 ? ['--coordinator-key', join(root, `c${i}.key`)] : []),
      ]);
      proxies[i]!.target = node.url;
      nodes.push(node);
      running.push(node);
    }
    const urls = nodes.map((n) => n.url);
    const diagnose = async (): Promise<string> => {
      const lines = [];
      for (let i = 0; i < urls.length; i++) {
        const h = (await get(`${urls[i]}/api/chain/head`)).json;
        const st = await Promise.all(
          [majority.json.hash, minority.json.hash].map((x) => tx(urls[i]!, x).then((t) => t.status ?? t.error?.code)),
        );
        lines.push(
          `${names[i]} head ${h.height} ${h.hash} w${h.totalWeight} final ${h.finalizedHeight} txs ${st.join(',')} pending ${(await get(`${urls[i]}/api/status`)).json.pendingTransactions}\n${nodes[i]!.output().split('\n').slice(-8).join('\n')}`,
        );
      }
      return lines.join('\n');
    };

    // Split: {c0, c1, c2} | {c3, follower}.
    const sides = [
      [0, 1, 2],
      [3, 4],
    ];
    for (const [a, b] of [
      [0, 1],
      [1, 0],
    ] as const) {
      for (const i of sides[a]!) for (const j of sides[b]!) proxies[i]!.blocked.add(proxies[j]!.url);
    }
    let majority = { json: { hash: '' } } as { status: number; json: { hash: string } };
    let minority = majority;
    majority = await post(`${urls[0]}/api/ledger/transfer`, await signedTransfer(senderKeys[0]!, receiver.address, 5n, 0n, network));
    minority = await post(`${urls[3]}/api/ledger/transfer`, await signedTransfer(senderKeys[1]!, receiver.address, 7n, 0n, network));
    expect([majority.status, minority.status]).toEqual([202, 202]);
    // The majority side seals its transfer and more; the minority side seals its own (c3 alone, out of turn).
    await waitFor(
      'the minority transfer sealed on its side',
      async () => ((await tx(urls[3]!, minority.json.hash)).status === 'confirmed' ? true : undefined),
      30_000,
    );
    for (let n = 1n; n <= 3n; n++) {
      const r = await post(
        `${urls[Number(n % 3n)]}/api/ledger/transfer`,
        await signedTransfer(senderKeys[0]!, receiver.address, 1n, n, network),
      );
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      await waitFor(
        `majority transfer ${n}`,
        async () => ((await tx(urls[0]!, r.json.hash)).status === 'confirmed' ? true : undefined),
        30_000,
      );
    }
    const finalOnMajority = await waitFor(
      'the majority transfer to be final',
      async () => {
        const t = await tx(urls[0]!, majority.json.hash);
        return t.status === 'confirmed' && t.final ? t : undefined;
      },
      30_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await diagnose()}`);
    });
    const minorityHead = (await get(`${urls[3]}/api/chain/head`)).json;
    expect(minorityHead.finalizedHeight).toBe('0');
    expect((await tx(urls[4]!, majority.json.hash)).status).not.toBe('confirmed');

    // Heal: everyone converges on the heavier chain; the minority's transfer is re-sealed there, the final one kept.
    for (const p of proxies) p.blocked.clear();
    await waitFor(
      'both transfers confirmed on every node',
      async () => {
        for (const url of urls)
          for (const h of [majority.json.hash, minority.json.hash]) if ((await tx(url, h)).status !== 'confirmed') return undefined;
        return true;
      },
      90_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose()}`);
    });
    await waitFor(
      'one head everywhere',
      async () => {
        const heads = await Promise.all(urls.map((u) => get(`${u}/api/chain/head`).then((r) => r.json.hash as string)));
        return heads.every((h) => h === heads[0]) ? heads[0] : undefined;
      },
      60_000,
    );
    for (const url of urls) {
      const t = await tx(url, majority.json.hash);
      expect(t.height, url).toBe(finalOnMajority.height);
      expect(t.blockHash, url).toBe(finalOnMajority.blockHash);
    }

    // At rest (nothing pending, the empty block finality asks for sealed), one head again, then the audits.
    for (const url of urls) await waitQuiet(url);
    const rest = await waitFor('one head at rest', async () => {
      const heads = await Promise.all(urls.map((u) => get(`${u}/api/chain/head`).then((r) => r.json.hash as string)));
      return heads.every((h) => h === heads[0]) ? heads[0] : undefined;
    });
    for (const n of running) {
      n.child.kill('SIGTERM');
      await n.exited;
    }
    running.length = 0;
    const spec = parseGenesis(genesisText).spec;
    for (const name of names) {
      const store = await ChainStore.open(join(root, name, 'chain'));
      try {
        const report = await auditStore(store, spec, { verifier: new JsVerifier() });
        expect(report.faults, name).toEqual([]);
        expect(report.headHash, name).toBe(rest);
      } finally {
        await store.close();
      }
    }
  }, 240_000);
});
