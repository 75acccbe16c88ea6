/**
 * A node restart costs no contributor what it earned: with sampled checks, rewards wait in escrow (here none is
 * drawn); a graceful stop checks each member's kept request and pays its escrow, the payments outlive the restart in
 * the pool journal, and they are on the ledger once the node is back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALC } from '../../chain/spec.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { RoomContributor } from '../../trainer/inference/contributor.js';
import { NodeApi } from '../../wallet-ui/src/api/node-api.js';
import { registerAccount } from '../../wallet-ui/src/account/account-session.js';
import type { AiloNode } from '../node.js';
import { alice, get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';
import { chatEvents, fund, nativeContributor, type Chatter } from '../test/inference.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
const SHARE = 10n ** 18n / 20n;

describe('inference escrow across a node restart', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  let contributor: RoomContributor;
  const key = wallet(611);
  // No request is drawn for a check (checkRate 0), and the escrow holds up to 8: every reward waits.
  const inference = { checkRate: 0, roomWaitMs: 200 };

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-room-restart-'));
    node = await startTestNode(net, join(net.root, 'data'), { federation: FED, inference });
  }, 60_000);
  afterAll(async () => {
    contributor?.stop();
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  const balance = async (who: string): Promise<bigint> => BigInt((await get(`${node.url}/api/ledger/account/${who}`)).json.balance);

  it('pays the escrowed rewards at a graceful stop; they are on the ledger after the restart', async () => {
    const reg = await registerAccount(new NodeApi(node.url), {
      username: 'restart',
      password: 'correct horse',
      kdfCost: { N: 2 ** 15, r: 8, p: 1 },
    });
    const user: Chatter = { token: reg.session.token, key: reg.session.signingKey() };
    await fund(node.url, net.network, alice, reg.session.address, ALC);
    contributor = nativeContributor({ nodeUrl: node.url, network: net.network, key: key.key, maxLayers: 8, cacheDir: cache, name: 'c' });
    await contributor.start();
    await waitFor(
      'servable',
      async () => ((await get(`${node.url}/api/inference/models`)).json.models[0].servable ? true : undefined),
      60_000,
    );
    for (let i = 0; i < 2; i++) {
      const r = await chatEvents(node.url, user, { model: 'ailo', prompt: `hello ${i}`, temperature: 0, maxTokens: 2 });
      expect(r.events.at(-1)).toMatchObject({ type: 'done', checked: false });
    }
    // Both rewards wait in escrow.
    await new Promise((r) => setTimeout(r, 500));
    expect(await balance(key.address)).toBe(0n);
    await node.stop();
    node = await startTestNode(net, join(net.root, 'data'), { federation: FED, inference });
    await waitFor('the escrowed rewards', async () => ((await balance(key.address)) === 2n * SHARE ? true : undefined), 20_000);
  }, 120_000);
});
