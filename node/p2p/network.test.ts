/**
 * Simulation: three coordinators and a follower as real processes on loopback. Transfers sent to different nodes
 * end up in one agreed chain; with a coordinator killed the others keep producing; restarted, it catches up; the
 * audit passes on every node's data afterwards.
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
import { spawnNode, type NodeProcess } from '../test/process.js';

const CHAIN_ID = 778n;
const coordinators = [wallet(201), wallet(202), wallet(203)];
const senderKeys = [211, 212, 213, 214];
const senders = senderKeys.map(wallet);
const receiver = wallet(220);

describe('a network of three coordinators and a follower', () => {
  const root = mkdtempSync(join(tmpdir(), 'ailo-net-'));
  const genesisPath = join(root, 'genesis.json');
  const genesisText = formatGenesis(
    genesisFor({
      name: 'ailo-sim',
      chainId: CHAIN_ID,
      coordinators: coordinators.map((c) => c.address),
      alloc: new Map(senders.map((s) => [s.address, 100n * ALC])),
      blockPeriodMs: 150,
      outOfTurnDelayMs: 150,
      timestamp: 1_700_000_000_000n,
    }),
  );
  writeFileSync(genesisPath, genesisText);
  const network = networkOfGenesis(genesisText);
  coordinators.forEach((c, i) => writeFileSync(join(root, `c${i}.key`), toHex(c.key)));
  const running: NodeProcess[] = [];
  const args = (name: string, peers: string[], key?: string): string[] => [
    '--data',
    join(root, name),
    '--port',
    '0',
    '--genesis',
    genesisPath,
    '--no-federation',
    ...(key ? ['--coordinator-key', join(root, key)] : []),
    ...(peers.length ? ['--peers', peers.join(',')] : []),
  ];
  afterAll(() => {
    for (const n of running) n.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  const head = async (url: string) => (await get(`${url}/api/chain/head`)).json as { height: string; hash: string };
  /**
   * Posts a transfer as a wallet does: a node that has not yet imported the block with the sender's previous
   * transfer (it was sealed elsewhere a moment ago) answers TX_NONCE_GAP, and the wallet tries again shortly.
   */
  const sendTransfer = async (url: string, body: Awaited<ReturnType<typeof signedTransfer>>) => {
    const end = Date.now() + 20_000;
    for (;;) {
      const r = await post(`${url}/api/ledger/transfer`, body);
      if (r.json?.error?.code !== 'TX_NONCE_GAP' || Date.now() > end) return r;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  /** Waits until every node in `urls` has every transfer in a block; on a timeout, says where the one missing stands. */
  const confirmedEverywhere = async (urls: string[], hashes: string[]) => {
    let missing: { url: string; hash: string } | undefined;
    await waitFor(
      `${hashes.length} transfers confirmed on ${urls.length} nodes`,
      async () => {
        for (const url of urls) {
          for (const hash of hashes) {
            if ((await get(`${url}/api/ledger/tx/${hash}`)).json.status !== 'confirmed') {
              missing = { url, hash };
              return undefined;
            }
          }
        }
        return true;
      },
      60_000,
    ).catch(async (err: Error) => {
      const where = await Promise.all(
        running.map(
          async (n) =>
            `${n.url}: ${(await get(`${n.url}/api/ledger/tx/${missing!.hash}`)).json.status ?? 'not known'} at height ${(await head(n.url)).height}`,
        ),
      );
      throw new Error(`${err.message}: ${missing!.hash} on ${where.join(', ')}`);
    });
  };
  const agreed = (urls: string[]) =>
    waitFor(
      'the nodes to agree on one head',
      async () => {
        const heads = await Promise.all(urls.map(head));
        return heads.every((h) => h.hash === heads[0]!.hash) ? heads[0] : undefined;
      },
      60_000,
    );

  it('agrees on one chain, survives a coordinator crash, and every data folder passes the audit', async () => {
    const c0 = await spawnNode(args('c0', [], 'c0.key'));
    running.push(c0);
    const c1 = await spawnNode(args('c1', [c0.url], 'c1.key'));
    const c2 = await spawnNode(args('c2', [c0.url], 'c2.key'));
    const follower = await spawnNode(args('f', [c0.url, c1.url]));
    running.push(c1, c2, follower);
    const nodes = [c0, c1, c2, follower];

    // Each sender talks to a different node; gossip brings every transfer to every coordinator.
    const hashes: string[] = [];
    for (let n = 0n; n < 3n; n++) {
      for (let i = 0; i < senders.length; i++) {
        const r = await sendTransfer(nodes[i]!.url, await signedTransfer(senderKeys[i]!, receiver.address, 1n + n, n, network));
        expect(r.status, JSON.stringify(r.json)).toBe(202);
        hashes.push(r.json.hash);
      }
      // Each sender's next nonce goes to its own node, so that node must have the sender's last transfer in a block
      // first (else TX_NONCE_GAP).
      const round = hashes.slice(-senders.length);
      for (let i = 0; i < senders.length; i++) await confirmedEverywhere([nodes[i]!.url], [round[i]!]);
    }
    await confirmedEverywhere(
      nodes.map((n) => n.url),
      hashes,
    );
    const first = await agreed(nodes.map((n) => n.url));
    const proposers = new Set<string>();
    for (let h = 1; h <= Number(first.height); h++) proposers.add((await get(`${c0.url}/api/chain/block/${h}`)).json.proposer);
    expect(proposers.size).toBeGreaterThan(1);

    // Kill a coordinator and take the follower offline; the other two keep sealing blocks.
    c2.child.kill('SIGKILL');
    await c2.exited;
    running.splice(running.indexOf(c2), 1);
    follower.child.kill('SIGKILL');
    await follower.exited;
    running.splice(running.indexOf(follower), 1);
    const more: string[] = [];
    for (let n = 3n; n < 8n; n++) {
      for (let i = 0; i < 2; i++) {
        const r = await post(
          `${nodes[i]!.url}/api/ledger/transfer`,
          await signedTransfer(senderKeys[i]!, receiver.address, 9n, n, network),
        );
        expect(r.status, JSON.stringify(r.json)).toBe(202);
        more.push(r.json.hash);
      }
      await confirmedEverywhere([c0.url, c1.url], more.slice(-2));
    }

    // Restarted, the coordinator and the follower catch up with the blocks sealed while they were down.
    const back = await spawnNode(args('c2', [c0.url], 'c2.key'));
    const followerBack = await spawnNode(args('f', [c1.url]));
    running.push(back, followerBack);
    const live = [c0.url, c1.url, back.url, followerBack.url];
    await confirmedEverywhere([back.url, followerBack.url], more);
    const final = await agreed(live);
    expect(BigInt(final.height)).toBeGreaterThan(BigInt(first.height));
    const balance = (await get(`${followerBack.url}/api/ledger/account/${receiver.address}`)).json.balance;
    expect(BigInt(balance)).toBe(4n * (1n + 2n + 3n) + 2n * 5n * 9n);

    // At rest (nothing pending, the empty block finality asks for sealed), one head again, then the audits.
    for (const url of live) await waitQuiet(url);
    const rest = await agreed(live);
    for (const n of running) {
      n.child.kill('SIGTERM');
      await n.exited;
    }
    running.length = 0;
    const spec = parseGenesis(genesisText).spec;
    for (const name of ['c0', 'c1', 'c2', 'f']) {
      const store = await ChainStore.open(join(root, name, 'chain'));
      try {
        const report = await auditStore(store, spec, { verifier: new JsVerifier() });
        expect(report.faults, name).toEqual([]);
        expect(report.headHash, name).toBe(rest.hash);
      } finally {
        await store.close();
      }
    }
  }, 180_000);
});
