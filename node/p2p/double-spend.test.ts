/**
 * Issue 12's measured split, replayed with real node processes: three coordinators X0, X1, X2 (nodes A, C, B), each
 * first alone or with one peer, seal conflicting spends of one nonce on two forks; B builds on A's fork, A later
 * follows C's. Under the old rule (distinct proposers) both forks called block 1 "final" and the network split for
 * good with U's nonce spent twice. With FFG votes (quorum 3 of 3) nothing is final until all three vote on one
 * chain; reconnected, they converge on one chain, exactly one of the two spends survives everywhere, finality
 * resumes, nobody is banned, and every data folder passes the audit.
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

const CHAIN_ID = 780n;
const X = [wallet(401), wallet(402), wallet(403)];
const U = 410;
const others = [411, 412, 413];
const [toX, toY, sink] = [wallet(420), wallet(421), wallet(422)];

describe('two forks that spend one nonce', () => {
  const root = mkdtempSync(join(tmpdir(), 'ailo-split-'));
  const genesisPath = join(root, 'genesis.json');
  const genesisText = formatGenesis(
    genesisFor({
      name: 'ailo-split',
      chainId: CHAIN_ID,
      coordinators: X.map((c) => c.address),
      alloc: new Map([U, ...others].map((k) => [wallet(k).address, 100n * ALC])),
      blockPeriodMs: 500,
      outOfTurnDelayMs: 250,
      timestamp: 1_700_000_000_000n,
    }),
  );
  writeFileSync(genesisPath, genesisText);
  const network = networkOfGenesis(genesisText);
  X.forEach((c, i) => writeFileSync(join(root, `x${i}.key`), toHex(c.key)));
  const running = new Map<string, NodeProcess>();
  const proxies = new Map<string, PartitionProxy>();
  afterAll(async () => {
    for (const n of running.values()) n.child.kill('SIGKILL');
    for (const p of proxies.values()) await p.close();
    rmSync(root, { recursive: true, force: true });
  });

  // A = X0, C = X1, B = X2; each behind a proxy so its URL survives restarts.
  const keyOf: Record<string, string> = { A: 'x0.key', C: 'x1.key', B: 'x2.key' };
  const start = async (name: string, peers: string[]): Promise<string> => {
    const proxy = proxies.get(name)!;
    const node = await spawnNode([
      '--data',
      join(root, name),
      '--port',
      '0',
      '--genesis',
      genesisPath,
      '--no-federation',
      '--coordinator-key',
      join(root, keyOf[name]!),
      '--public-url',
      proxy.url,
      ...(peers.length ? ['--peers', peers.map((p) => proxies.get(p)!.url).join(',')] : []),
    ]);
    proxy.target = node.url;
    running.set(name, node);
    return node.url;
  };
  const stop = async (name: string): Promise<void> => {
    const node = running.get(name)!;
    node.child.kill('SIGTERM');
    await node.exited;
    running.delete(name);
    proxies.get(name)!.target = '';
  };
  const url = (name: string): string => proxies.get(name)!.url;
  const tx = (name: string, hash: string) => get(`${url(name)}/api/ledger/tx/${hash}`).then((r) => r.json);
  const head = (name: string) => get(`${url(name)}/api/chain/head`).then((r) => r.json);
  const confirmedOn = (name: string, hash: string) =>
    waitFor(`${hash} confirmed on ${name}`, async () => ((await tx(name, hash)).status === 'confirmed' ? true : undefined), 30_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${name}'s log:\n${running.get(name)?.output().split('\n').slice(-15).join('\n')}`);
      },
    );

  it('ends on one chain with the double spend impossible, nothing final on either fork alone, and nobody banned', async () => {
    for (const name of ['A', 'B', 'C']) proxies.set(name, await PartitionProxy.start());
    await start('A', []);
    await start('C', []);
    const t1 = await post(`${url('A')}/api/ledger/transfer`, await signedTransfer(U, toX.address, 5n * ALC, 0n, network));
    const t1b = await post(`${url('C')}/api/ledger/transfer`, await signedTransfer(U, toY.address, 7n * ALC, 0n, network));
    expect([t1.status, t1b.status]).toEqual([202, 202]);
    await confirmedOn('A', t1.json.hash); // A seals block 1 out of turn
    await confirmedOn('C', t1b.json.hash); // C seals its own block 1 in turn

    // B learns only A's block 1, then, alone, seals block 2 on it.
    await start('B', ['A']);
    await confirmedOn('B', t1.json.hash);
    await stop('B');
    await start('B', []);
    const onB = await post(`${url('B')}/api/ledger/transfer`, await signedTransfer(others[0]!, sink.address, 1n, 0n, network));
    expect(onB.status, JSON.stringify(onB.json)).toBe(202);
    await confirmedOn('B', onB.json.hash);
    // Two coordinators' blocks on a fork are not finality: no quorum of votes ever saw it.
    expect((await head('B')).finalizedHeight).toBe('0');

    // A, restarted with C as its peer, follows C's fork (its own block 1 goes) and builds on it.
    await stop('A');
    await start('A', ['C']);
    await confirmedOn('A', t1b.json.hash);
    expect((await tx('A', t1.json.hash)).status).not.toBe('confirmed');
    const onA = await post(`${url('A')}/api/ledger/transfer`, await signedTransfer(others[1]!, sink.address, 1n, 0n, network));
    expect(onA.status, JSON.stringify(onA.json)).toBe(202);
    await confirmedOn('A', onA.json.hash);
    for (const name of ['A', 'C']) expect((await head(name)).finalizedHeight, name).toBe('0');

    // All three, each with the others as peers; transfers keep coming for a while.
    for (const name of ['A', 'B', 'C']) await stop(name);
    for (const name of ['A', 'B', 'C'])
      await start(
        name,
        ['A', 'B', 'C'].filter((n) => n !== name),
      );
    const sent: string[] = [];
    const nonces = new Map(others.map((k) => [k, 0n]));
    nonces.set(others[0]!, 1n);
    nonces.set(others[1]!, 1n);
    const end = Date.now() + 8_000;
    for (let i = 0; Date.now() < end; i++) {
      const k = others[i % others.length]!;
      const name = ['A', 'B', 'C'][i % 3]!;
      const r = await post(`${url(name)}/api/ledger/transfer`, await signedTransfer(k, sink.address, 1n, nonces.get(k)!, network));
      if (r.status === 202) {
        sent.push(r.json.hash);
        nonces.set(k, nonces.get(k)! + 1n);
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    const diagnose = async (): Promise<string> => {
      const lines = [];
      for (const name of ['A', 'B', 'C']) {
        const h = await head(name);
        lines.push(
          `${name} head ${h.height} ${h.hash} justified ${h.justifiedHeight} final ${h.finalizedHeight}\n${running.get(name)!.output().split('\n').slice(-10).join('\n')}`,
        );
      }
      return lines.join('\n');
    };
    // One chain, final beyond everything sent, on every node.
    const agreed = await waitFor(
      'one head, final past every transfer, on every node',
      async () => {
        const heads = await Promise.all(['A', 'B', 'C'].map(head));
        if (!heads.every((h) => h.hash === heads[0].hash)) return undefined;
        for (const hash of sent) {
          const t = await tx('A', hash);
          if (t.status !== 'confirmed' || !t.final) return undefined;
        }
        return heads[0] as { hash: string; finalizedHeight: string };
      },
      60_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose()}`);
    });
    expect(BigInt(agreed.finalizedHeight)).toBeGreaterThan(0n);

    // U's one nonce is spent once, the same way everywhere, and that spend is final.
    const spends = [];
    for (const name of ['A', 'B', 'C']) {
      const [a, b] = [await tx(name, t1.json.hash), await tx(name, t1b.json.hash)];
      expect(
        [a.status, b.status].filter((s) => s === 'confirmed'),
        name,
      ).toHaveLength(1);
      const winner = a.status === 'confirmed' ? a : b;
      expect(winner.final, name).toBe(true);
      spends.push(winner.blockHash);
      const account = (await get(`${url(name)}/api/ledger/account/${wallet(U).address}`)).json;
      expect(account.nonce, name).toBe('1');
    }
    expect(new Set(spends).size).toBe(1);
    // A fork choice that went the other way is no misbehaviour: nobody is banned.
    for (const name of ['A', 'B', 'C']) {
      const { scores } = (await get(`${url(name)}/api/peers`)).json as { scores: { bannedUntil: number }[] };
      expect(
        scores.filter((s) => s.bannedUntil > Date.now()),
        name,
      ).toEqual([]);
    }

    // At rest (nothing pending, the last transactions final), the three heads are one; then the audits.
    for (const name of ['A', 'B', 'C']) await waitQuiet(url(name));
    const rest = await Promise.all(['A', 'B', 'C'].map(head));
    expect(new Set(rest.map((h) => h.hash)).size).toBe(1);
    for (const name of ['A', 'B', 'C']) await stop(name);
    const spec = parseGenesis(genesisText).spec;
    for (const name of ['A', 'B', 'C']) {
      const store = await ChainStore.open(join(root, name, 'chain'));
      try {
        const report = await auditStore(store, spec, { verifier: new JsVerifier() });
        expect(report.faults, name).toEqual([]);
        expect(report.headHash, name).toBe(rest[0].hash);
      } finally {
        await store.close();
      }
    }
  }, 180_000);
});
