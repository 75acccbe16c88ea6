/**
 * Four coordinators (quorum 3, tolerating one byzantine) as real processes, plus a follower; the fourth coordinator
 * is this test, holding its key: it sends one node a finality vote and another node a conflicting one, and seals
 * two different children of one block for two different nodes. The honest nodes report the evidence, the ledger
 * convicts it, its later votes and blocks count for nothing, finality goes on with the three honest votes, no two
 * nodes ever hold different final blocks, and the audit lists the conviction.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditStore } from '../../chain/audit/store-audit.js';
import { decodeBlock, encodeBlock, sealBlock, txRootOf } from '../../chain/block/block.js';
import { toHex, type Hex } from '../../protocol/bytes.js';
import { earliestTimestamp } from '../../chain/consensus/clique.js';
import { decodeVote, encodeVote, signVote } from '../../chain/consensus/finality.js';
import { JsVerifier } from '../../chain/crypto/verifier.js';
import { ALC } from '../../chain/spec.js';
import { ChainStore } from '../../chain/store/chain-store.js';
import { wallet } from '../../chain/test/fixtures.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis, parseGenesis } from '../../genesis/genesis.js';
import { get, networkOfGenesis, post, signedTransfer, waitFor } from '../test/harness.js';
import { spawnNode, type NodeProcess } from '../test/process.js';

const coordinators = [wallet(501), wallet(502), wallet(503), wallet(504)];
const byzantine = coordinators[3]!;
const sender = 510;
const sink = wallet(520);

describe('one equivocating coordinator of four', () => {
  const root = mkdtempSync(join(tmpdir(), 'ailo-byz-'));
  const genesisPath = join(root, 'genesis.json');
  const genesisText = formatGenesis(
    genesisFor({
      name: 'ailo-byzantine',
      chainId: 781n,
      coordinators: coordinators.map((c) => c.address),
      alloc: new Map([[wallet(sender).address, 100n * ALC]]),
      blockPeriodMs: 200,
      outOfTurnDelayMs: 200,
      timestamp: 1_700_000_000_000n,
    }),
  );
  writeFileSync(genesisPath, genesisText);
  const spec = parseGenesis(genesisText).spec;
  const network = networkOfGenesis(genesisText);
  coordinators.forEach((c, i) => writeFileSync(join(root, `c${i}.key`), toHex(c.key)));
  const running: NodeProcess[] = [];
  afterAll(() => {
    for (const n of running) n.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('is convicted by the evidence it leaves, and finality stays safe and live without it', async () => {
    const names = ['c0', 'c1', 'c2', 'f'];
    const urls: string[] = [];
    for (const [i, name] of names.entries()) {
      const node = await spawnNode([
        '--data',
        join(root, name),
        '--port',
        '0',
        '--genesis',
        genesisPath,
        '--no-federation',
        ...(i < 3 ? ['--coordinator-key', join(root, `c${i}.key`)] : []),
        ...(urls.length ? ['--peers', urls.join(',')] : []),
      ]);
      running.push(node);
      urls.push(node.url);
    }
    const head = (url: string) => get(`${url}/api/chain/head`).then((r) => r.json);
    let nonce = 0n;
    const send = async (): Promise<string> => {
      const r = await post(
        `${urls[Number(nonce) % 3]}/api/ledger/transfer`,
        await signedTransfer(sender, sink.address, 1n, nonce, network),
      );
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      nonce++;
      return r.json.hash as string;
    };
    const finalEverywhere = (hash: string) =>
      waitFor(
        `${hash} final on every node`,
        async () => {
          for (const url of urls) {
            const t = (await get(`${url}/api/ledger/tx/${hash}`)).json;
            if (t.status !== 'confirmed' || !t.final) return undefined;
          }
          return true;
        },
        60_000,
      ).catch(async (err: Error) => {
        const lines = [];
        for (const [i, url] of urls.entries()) {
          const hd = await head(url);
          const votes = ((await get(`${url}/api/chain/votes?from=0`)).json.votes as string[]).map((v) =>
            decodeVote(Uint8Array.from(Buffer.from(v.slice(2), 'hex'))),
          );
          const blocks = ((await get(`${url}/api/chain/blocks?from=1`)).json.blocks as { hash: string; raw: string }[]).map((b) =>
            decodeBlock(Uint8Array.from(Buffer.from(b.raw.slice(2), 'hex'))),
          );
          lines.push(
            `${names[i]} head ${hd.height} justified ${hd.justifiedHeight} final ${hd.finalizedHeight}; blocks ${blocks.map((b) => `${b.header.height}:${b.hash.slice(0, 8)} by ${b.header.proposer.slice(0, 8)}`).join(', ')}; votes ${votes.map((v) => `${v.source.height}->${v.target.height}:${v.target.hash.slice(0, 8)}`).join(', ')}\n${running[
              i
            ]!.output()
              .split('\n')
              .filter((l) => /fork|reorg|sync|vote/i.test(l))
              .slice(-6)
              .join('\n')}`,
          );
        }
        throw new Error(`${err.message}\n${lines.join('\n')}`);
      });

    // Three honest coordinators are a quorum: transactions become final without the fourth.
    await finalEverywhere(await send());

    // The byzantine coordinator votes for the head on one node and for a made-up block at that height on another.
    const h = await head(urls[0]!);
    const source = { hash: h.justifiedHash as Hex, height: BigInt(h.justifiedHeight) };
    const target = { hash: h.hash as Hex, height: BigInt(h.height) };
    const genesisHash = network.genesisHash;
    const fake = { hash: `0x${'5a'.repeat(32)}` as Hex, height: target.height };
    const honestLooking = encodeVote(
      signVote(
        genesisHash,
        source.height < target.height ? source : { hash: genesisHash, height: 0n },
        target,
        byzantine.key,
        byzantine.address,
      ),
    );
    const twin = encodeVote(signVote(genesisHash, { hash: genesisHash, height: 0n }, fake, byzantine.key, byzantine.address));
    const gossip = (url: string, path: string, body: Uint8Array) =>
      fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(body) });
    expect((await gossip(urls[0]!, '/api/p2p/vote', honestLooking)).status).toBeLessThan(300);
    expect((await gossip(urls[1]!, '/api/p2p/vote', twin)).status).toBeLessThan(300);

    // Every node's ledger convicts it.
    await waitFor(
      'the byzantine coordinator convicted on every node',
      async () => {
        for (const url of urls) {
          const { coordinators: set } = (await get(`${url}/api/chain/coordinators`)).json as {
            coordinators: { address: string; convicted: boolean }[];
          };
          if (!set.find((c) => c.address.toLowerCase() === byzantine.address.toLowerCase())!.convicted) return undefined;
        }
        return true;
      },
      60_000,
    );

    // Its blocks are refused from then on: two children of the head, one for each of two nodes.
    const parentRaw = (await get(`${urls[0]}/api/chain/blocks?from=${(await head(urls[0]!)).height}&limit=1`)).json.blocks[0].raw as string;
    const parent = decodeBlock(Uint8Array.from(Buffer.from(parentRaw.slice(2), 'hex')));
    const child = (ts: bigint) =>
      sealBlock(
        {
          chainId: spec.chainId,
          height: parent.header.height + 1n,
          parentHash: parent.hash,
          timestamp: ts,
          proposer: byzantine.address,
          txRoot: txRootOf([]),
          stateRoot: parent.header.stateRoot,
        },
        [],
        byzantine.key,
      );
    const due = earliestTimestamp(spec, parent.header, byzantine.address);
    for (const [i, block] of [child(due), child(due + 1n)].entries()) {
      const r = await gossip(urls[i]!, '/api/p2p/block', encodeBlock(block));
      expect(r.status, `block ${i} of the convicted coordinator`).toBeGreaterThanOrEqual(400);
    }

    // Finality goes on, and the final blocks agree everywhere.
    for (let i = 0; i < 3; i++) await finalEverywhere(await send());
    const finals = await Promise.all(urls.map(async (url) => BigInt((await head(url)).finalizedHeight)));
    const common = finals.reduce((a, b) => (a < b ? a : b));
    expect(common).toBeGreaterThan(BigInt(h.height));
    for (let height = 1n; height <= common; height++) {
      const hashes = await Promise.all(urls.map(async (url) => (await get(`${url}/api/chain/block/${height}`)).json.hash));
      expect(new Set(hashes).size, `final block ${height}`).toBe(1);
    }

    for (const n of running) {
      n.child.kill('SIGTERM');
      await n.exited;
    }
    running.length = 0;
    for (const name of names) {
      const store = await ChainStore.open(join(root, name, 'chain'));
      try {
        const report = await auditStore(store, spec, { verifier: new JsVerifier() });
        expect(report.faults, name).toEqual([]);
        expect(
          report.convictions.map((c) => [c.offender, c.kind]),
          name,
        ).toEqual([[byzantine.address, 'votes']]);
      } finally {
        await store.close();
      }
    }
  }, 180_000);
});
