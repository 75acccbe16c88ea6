/**
 * The room channel under attack, with raw WebSockets against a real node: joins that are unsigned, signed by another
 * wallet, for another coordinator, replayed, for an unknown model, or never sent are refused by name; a result for a
 * forward never sent, or naming another session, gets its sender removed (BAD_FRAME) and nothing else changes: the
 * honest contributors keep serving and a chat still completes and pays them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { signInferenceJoin } from '../../chain/tx/task-request.js';
import { parseAddress } from '../../protocol/address.js';
import { encodeHiddenFrame } from '../../protocol/inference.js';
import { RoomContributor } from '../../trainer/inference/contributor.js';
import { AiloNode } from '../node.js';
import { coordinator, get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';
import { nativeContributor, rawChannel } from '../test/inference.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };

/** Opens a channel and collects what the node says until it closes. */
const channel = rawChannel;

describe('the room channel refuses bad peers', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  const honest: RoomContributor[] = [];
  const keys = [411, 412, 413].map((n) => wallet(n));

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-room-channel-'));
    node = await startTestNode(net, join(net.root, 'data'), { federation: FED, inference: { checkRate: 1 } });
  }, 60_000);
  afterAll(async () => {
    for (const c of honest) c.stop();
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  const joinBody = (key: Uint8Array, coord = coordinator.address) => signInferenceJoin(key, net.network, coord);

  it('refuses joins that are unsigned, forged, for another coordinator, replayed or for an unknown model, and a silent channel', async () => {
    const good = joinBody(keys[0]!.key);
    const forged = { ...joinBody(keys[0]!.key), wallet: parseAddress(keys[1]!.address) };
    const cases: [string, unknown][] = [
      ['no signature', { type: 'join', model: 'ailo', maxLayers: 1, join: { ...good, signature: '0x' } }],
      ['another wallet', { type: 'join', model: 'ailo', maxLayers: 1, join: forged }],
      ['another coordinator', { type: 'join', model: 'ailo', maxLayers: 1, join: joinBody(keys[0]!.key, parseAddress(keys[2]!.address)) }],
      ['unknown model', { type: 'join', model: 'gpt-5', maxLayers: 1, join: joinBody(keys[0]!.key) }],
      ['bad maxLayers', { type: 'join', model: 'ailo', maxLayers: 0, join: joinBody(keys[0]!.key) }],
      ['not JSON', 'hello'],
    ];
    for (const [what, msg] of cases) {
      const c = await channel(node.url);
      c.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
      const closed = await c.closed;
      expect(closed.code, what).toBe(4000);
      expect(['BAD_JOIN', 'UNKNOWN_MODEL', 'BAD_FRAME'], what).toContain(closed.reason);
      expect(c.said.at(-1), what).toMatchObject({ type: 'closing' });
      expect(c.said.at(-1).message.length, what).toBeGreaterThan(10);
    }
    // The same signed join twice: the second is a replay.
    const first = await channel(node.url);
    first.ws.send(JSON.stringify({ type: 'join', model: 'ailo', maxLayers: 1, join: good }));
    await waitFor('assigned', async () => (first.said.some((m) => m.type === 'assign') ? true : undefined));
    const replay = await channel(node.url);
    replay.ws.send(JSON.stringify({ type: 'join', model: 'ailo', maxLayers: 1, join: good }));
    expect((await replay.closed).reason).toBe('BAD_JOIN');
    expect(replay.said.at(-1).message).toMatch(/already used/);
    first.ws.close();
    await first.closed;
    // Nothing is left in the room.
    await waitFor('room empty', async () =>
      (await get(`${node.url}/api/inference/models`)).json.models[0].contributors === 0 ? true : undefined,
    );
  }, 60_000);

  it('removes a contributor whose result answers no forward or names another session; honest contributors keep serving', async () => {
    for (const [i, k] of keys.slice(0, 2).entries()) {
      const c = nativeContributor({ nodeUrl: node.url, network: net.network, key: k.key, maxLayers: 1, cacheDir: cache, name: String(i) });
      await c.start();
      honest.push(c);
    }
    await waitFor(
      'servable',
      async () => ((await get(`${node.url}/api/inference/models`)).json.models[0].servable ? true : undefined),
      30_000,
    );
    const C = node.federation!.modelConfig.n_embd;
    // Two intruders on standby: one answers a forward never sent, one a binary frame before joining.
    const intruder = await channel(node.url);
    intruder.ws.send(JSON.stringify({ type: 'join', model: 'ailo', maxLayers: 2, join: joinBody(keys[2]!.key) }));
    await waitFor('joined', async () =>
      (await get(`${node.url}/api/inference/models`)).json.models[0].contributors === 3 ? true : undefined,
    );
    intruder.ws.send(encodeHiddenFrame({ kind: 'result', id: 1, session: 'forged', start: 0, rows: 1 }, new Float32Array(C)));
    const closed = await intruder.closed;
    expect(closed.reason).toBe('BAD_FRAME');
    expect(intruder.said.at(-1).message).toMatch(/answers no forward/);

    const early = await channel(node.url);
    early.ws.send(encodeHiddenFrame({ kind: 'result', id: 1, session: 'x', start: 0, rows: 1 }, new Float32Array(C)));
    expect((await early.closed).reason).toBe('BAD_FRAME');

    const models = (await get(`${node.url}/api/inference/models`)).json.models[0];
    expect([models.servable, models.contributors]).toEqual([true, 2]);
    expect(honest.map((c) => c.state.phase)).toEqual(['serving', 'serving']);
  }, 90_000);
});
