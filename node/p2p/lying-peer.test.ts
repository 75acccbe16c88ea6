/**
 * A peer with no keys that lies about its chain: it passes the handshake, claims a head at height 3 "justified" at
 * 999,999, says its chain leaves the victim's at 3, and serves the victim's own block 3 as that fork. Before forks were
 * judged on their blocks, that claim alone made the victim roll back every block that was not final (to height 3 here;
 * issue 12's red-team review). The attacker must gain nothing: no rollback, no reorg, the victim's chain as it was.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeBlock, type Block } from '../../chain/block/block.js';
import { inTurnProposer } from '../../chain/consensus/clique.js';
import { randomPrivateKey } from '../../protocol/signature.js';
import { openTestChain, wallet } from '../../chain/test/fixtures.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis, parseGenesis } from '../../genesis/genesis.js';
import { AiloNode } from '../node.js';
import { waitFor } from '../test/harness.js';
import { NodeIdentity } from './envelope.js';

// Five coordinators: quorum 4, so with no votes at all nothing past genesis is final and all of it could be rolled back.
const coordinators = [601, 602, 603, 604, 605].map(wallet);

describe('a peer that lies about its chain', () => {
  const root = mkdtempSync(join(tmpdir(), 'ailo-liar-'));
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
    rmSync(root, { recursive: true, force: true });
  });

  it('gets no rollback from a claimed justified height its blocks do not bear out', async () => {
    const genesisText = formatGenesis(
      genesisFor({
        name: 'ailo-liar',
        chainId: 782n,
        coordinators: coordinators.map((c) => c.address),
        blockPeriodMs: 100,
        outOfTurnDelayMs: 100,
        timestamp: 1_700_000_000_000n,
      }),
    );
    writeFileSync(join(root, 'genesis.json'), genesisText);
    const spec = parseGenesis(genesisText).spec;
    // Eight honest blocks, sealed in turn, none final (no votes).
    const source = await openTestChain(spec, join(root, 'source'));
    const blocks: Block[] = [];
    for (let i = 0; i < 8; i++) {
      const who = coordinators.find((c) => c.address === inTurnProposer(spec, source.height + 1n))!;
      blocks.push((await source.buildBlock([], who.key, who.address, source.head.header.timestamp + 100n)).block);
    }
    const lines: string[] = [];
    const victim = await AiloNode.start({
      data: join(root, 'victim'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: join(root, 'genesis.json'),
      log: (l) => lines.push(l),
    });
    cleanups.push(() => victim.stop());
    for (const b of blocks)
      await fetch(`${victim.url}/api/p2p/block`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(encodeBlock(b)),
      });
    await waitFor('the victim to hold the eight blocks', async () => (victim.chain.height === 8n ? true : undefined));
    const head = victim.chain.head.hash;
    expect(victim.chain.finalizedHeight()).toBe(0n);

    // The liar: a fresh key, a valid handshake, the real hashes and blocks, and a head claim with an absurd justification.
    let identity: NodeIdentity | undefined;
    let votePages = 0;
    const server = createServer((req, res) => {
      void (async () => {
        const me = identity!;
        const url = new URL(req.url!, me.url);
        const json = (body: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        if (url.pathname === '/api/p2p/hello') return json(me.hello(url.searchParams.get('nonce') as NodeIdentity['domain']));
        if (url.pathname === '/api/chain/head') {
          return json({ height: '3', hash: `0x${'77'.repeat(32)}`, totalWeight: '1', justifiedHeight: '999999', finalizedHeight: '0' });
        }
        if (url.pathname === '/api/chain/hashes') {
          // The victim's own hashes up to 2, then a "fork" at 3, whose page is the victim's own block 3 again.
          const from = Number(url.searchParams.get('from'));
          const hash = from === 0 ? source.genesisHash : from === 3 ? `0x${'77'.repeat(32)}` : blocks[from - 1]?.hash;
          return json({ head: '3', hashes: hash ? [hash] : [] });
        }
        if (url.pathname === '/api/chain/votes') {
          // 8 MiB of "votes", far past the 260 kB a page can hold: the victim must stop reading, not buffer it.
          votePages++;
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const chunk = Buffer.alloc(64 * 1024, 0xab);
          for (let i = 0; i < 128 && !res.destroyed; i++) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
          return void res.end();
        }
        if (url.pathname === '/api/chain/blocks') {
          const block = blocks[Number(url.searchParams.get('from')) - 1];
          const bytes = block ? encodeBlock(block) : new Uint8Array(0);
          const page = Buffer.alloc(block ? 4 + bytes.length : 0);
          if (block) {
            page.writeUInt32BE(bytes.length, 0);
            page.set(bytes, 4);
          }
          return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(page);
        }
        res.writeHead(404).end();
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const liarUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    identity = new NodeIdentity(randomPrivateKey(), liarUrl, victim.network.identity.domain);
    victim.network.peers.addConfigured(liarUrl);

    await waitFor('the liar to pass the handshake', async () => (victim.network.peers.active().includes(liarUrl) ? true : undefined));
    const until = victim.network.counters.rounds + 5;
    await waitFor('five sync rounds with the liar', async () => (victim.network.counters.rounds >= until ? true : undefined));
    // It gained nothing, and the victim says why.
    expect(victim.chain.height).toBe(8n);
    expect(victim.chain.head.hash).toBe(head);
    expect(victim.network.counters.reorgs).toBe(0);
    expect(lines.some((l) => /offered a fork from \d+ .*claimed .*justified 999999.*staying/.test(l))).toBe(true);
    // Its oversized vote page was cut off, and it is not asked again every round.
    expect(lines.some((l) => /vote page from .* is larger than the 260000 bytes allowed/.test(l))).toBe(true);
    expect(votePages).toBeLessThanOrEqual(2);
    await source.store.close();
  }, 60_000);
});
