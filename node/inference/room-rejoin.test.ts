/**
 * A contributor whose old channel the node still holds (its connection died without a close: NAT timeout, sleep, a
 * network switch) is not locked out (an outside review found it refused for good): a newer join signed by its wallet
 * takes the place, the older channel is told REPLACED; and a channel that answers no heartbeat ping is closed, so a
 * dead connection does not keep a place at all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { signInferenceJoin } from '../../chain/tx/task-request.js';
import type { AiloNode } from '../node.js';
import { coordinator, get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';
import { nativeContributor, rawChannel } from '../test/inference.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };

describe('a wallet rejoining a room', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  const W = wallet(951);

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-room-rejoin-'));
    node = await startTestNode(net, join(net.root, 'data'), { federation: FED, inference: { roomWaitMs: 200, heartbeatMs: 300 } });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  const contributors = async (): Promise<number> => (await get(`${node.url}/api/inference/models`)).json.models[0].contributors;
  const join_ = (key: Uint8Array): string =>
    JSON.stringify({ type: 'join', model: 'ailo', maxLayers: 8, join: signInferenceJoin(key, net.network, coordinator.address) });

  it('a newer join signed by the same wallet takes the place of the older channel, which is told REPLACED', async () => {
    // The old channel of wallet W: joined, then silent (the node still holds it).
    const old = await rawChannel(node.url);
    old.ws.send(join_(W.key));
    await waitFor('assigned', async () => (old.said.some((m) => m.type === 'assign') ? true : undefined), 5_000);
    const again = nativeContributor({ nodeUrl: node.url, network: net.network, key: W.key, maxLayers: 8, cacheDir: cache, name: 'c' });
    await again.start();
    await waitFor('serving', async () => (again.state.phase === 'serving' ? true : undefined), 30_000);
    await waitFor('the old channel closed', async () => (old.said.some((m) => m.type === 'closing') ? true : undefined), 5_000);
    expect(old.said.find((m) => m.type === 'closing')).toMatchObject({ code: 'REPLACED' });
    expect(await contributors()).toBe(1);
    again.stop();
    await again.closed;
    await waitFor('the room empty', async () => ((await contributors()) === 0 ? true : undefined), 5_000);
  }, 60_000);

  it('closes a channel that answers no heartbeat ping', async () => {
    const dead = await rawChannel(node.url, { autoPong: false });
    dead.ws.send(join_(wallet(952).key));
    await waitFor('assigned', async () => (dead.said.some((m) => m.type === 'assign') ? true : undefined), 5_000);
    expect(await contributors()).toBe(1);
    // Two heartbeats unanswered (300 ms each here): terminated, its place freed.
    expect((await dead.closed).code).toBe(1006);
    await waitFor('the place freed', async () => ((await contributors()) === 0 ? true : undefined), 5_000);
  }, 30_000);
});
