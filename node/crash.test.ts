/**
 * Crash safety: a node killed with SIGKILL while transfers stream in restarts at its last whole block, with every
 * transaction the API had reported as confirmed still there, and its data folder passes the audit.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditStore } from '../chain/audit/store-audit.js';
import { JsVerifier } from '../chain/crypto/verifier.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { parseGenesis } from '../genesis/genesis.js';
import { readFileSync } from 'node:fs';
import { bob, get, post, signedTransfer, testNet, waitFor } from './test/harness.js';
import { spawnNode } from './test/process.js';

describe('SIGKILL at any moment', () => {
  const net = testNet(20);
  const data = join(net.root, 'data');
  const args = ['--data', data, '--port', '0', '--genesis', net.genesisPath, '--coordinator-key', net.keyPath];
  afterAll(() => net.remove());

  it('loses no confirmed transaction and leaves a consistent store, over several kills', async () => {
    const confirmed = new Map<string, string>(); // hash -> height the API reported
    let nonce = 0n;
    for (let round = 0; round < 3; round++) {
      const node = await spawnNode(args);
      for (const [hash, height] of confirmed) {
        const r = await get(`${node.url}/api/ledger/tx/${hash}`);
        expect(r.json.status, `round ${round}: ${hash}`).toBe('confirmed');
        expect(r.json.height).toBe(height);
      }
      nonce = BigInt(
        (await get(`${node.url}/api/ledger/account/${(await signedTransfer(102, bob.address, 1n, 0n, net.network)).from}`)).json.nonce,
      );
      const target = confirmed.size + 15 + round * 7;
      let killed = false;
      const posted: string[] = [];
      // Transfers stream in without waiting for blocks, while another loop watches for confirmations.
      const sender = (async () => {
        while (!killed) {
          const r = await post(`${node.url}/api/ledger/transfer`, await signedTransfer(102, bob.address, 1n, nonce, net.network)).catch(
            (err: Error) => {
              if (killed) return undefined;
              throw err;
            },
          );
          if (!r) return;
          if (r.status !== 202) throw new Error(`transfer refused: ${JSON.stringify(r.json)}`);
          posted.push(r.json.hash as string);
          nonce++;
        }
      })();
      const watcher = (async () => {
        while (!killed) {
          for (const hash of posted.filter((h) => !confirmed.has(h))) {
            const t = await get(`${node.url}/api/ledger/tx/${hash}`).catch(() => undefined);
            if (t?.json.status === 'confirmed') confirmed.set(hash, t.json.height);
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      await waitFor('confirmations', async () => (confirmed.size >= target ? true : undefined), 60_000);
      // Land the kill at a varying moment inside the stream of block commits.
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40)));
      node.child.kill('SIGKILL');
      killed = true;
      await node.exited;
      await sender;
      await watcher;
      expect(posted.length).toBeGreaterThan(0);
    }
    const store = await ChainStore.open(join(data, 'chain'));
    try {
      const spec = parseGenesis(readFileSync(net.genesisPath, 'utf8')).spec;
      const report = await auditStore(store, spec, { verifier: new JsVerifier() });
      expect(report.faults).toEqual([]);
      expect(report.txs.transfer).toBeGreaterThanOrEqual(confirmed.size);
      for (const [hash, height] of confirmed) expect((await store.txLocation(hash as `0x${string}`))?.height.toString()).toBe(height);
    } finally {
      await store.close();
    }
  }, 180_000);
});
