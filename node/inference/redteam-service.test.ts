/**
 * Red-team: InferenceService with a fake federation/ledger and fake WebSockets (no node, no onnxruntime sessions are
 * run). A join offering fewer layers than the room's minimum span is refused (A1); a model-version move retires the
 * old room, so a contributor that was loading its span when the room moved keeps serving in the new one (E1), and a
 * late ready for the old version is not taken for the new one (E1b).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { JsVerifier } from '../../chain/crypto/verifier.js';
import { signInferenceJoin } from '../../chain/tx/task-request.js';
import { parseAddress } from '../../protocol/address.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import { initWeights } from '../../trainer/model/weights.js';
import { waitFor } from '../test/harness.js';
import { InferenceService, type InferenceConfig } from './service.js';

const network = { chainId: 7n, genesisHash: `0x${'11'.repeat(32)}` as const };
const coord = wallet(900);

class FakeWs extends EventEmitter {
  sent: any[] = [];
  closedWith: string | undefined;
  send(data: unknown): void {
    if (typeof data === 'string') this.sent.push(JSON.parse(data));
  }
  close(_code: number, reason: string): void {
    if (this.closedWith) return;
    this.closedWith = reason;
    setImmediate(() => this.emit('close'));
  }
  text(m: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(m)), false);
  }
  assigns(): { version?: number; assignment: number }[] {
    return this.sent.filter((m) => m.type === 'assign').map((m) => ({ version: m.version, assignment: m.assignment }));
  }
}

/** A service over a fake federation whose version the test moves, and one channel per `connect`. */
function service(layers: number, cfg: Partial<InferenceConfig>) {
  const model: ModelConfig = {
    vocab_size: 101,
    n_positions: 32,
    n_embd: 32,
    n_layer: layers,
    n_head: 4,
    n_inner: 64,
    layer_norm_epsilon: 1e-5,
  };
  const weights = initWeights(model, 1);
  const state = { version: 0 };
  const federation = {
    get version() {
      return state.version;
    },
    modelConfigName: 'test',
    modelConfig: model,
    currentWeights: () => weights,
  };
  const ledger = {
    verifier: new JsVerifier(),
    network,
    chain: { spec: { rewards: { inferenceShare: 5n } } },
    submit: async () => {},
  };
  const svc = new InferenceService(federation as never, ledger as never, coord.key, parseAddress(coord.address), cfg);
  const connect = (key: number, maxLayers: number): FakeWs => {
    const ws = new FakeWs();
    (svc as any).onChannel(ws, '10.0.0.1');
    ws.text({ type: 'join', model: 'ailo', maxLayers, join: signInferenceJoin(wallet(key).key, network, parseAddress(coord.address)) });
    return ws;
  };
  return { svc, state, connect };
}

const settled = (ws: FakeWs): Promise<true> =>
  waitFor('the join to be answered', async () => (ws.closedWith !== undefined || ws.assigns().length > 0 ? true : undefined), 5_000);

describe('red team: span size', () => {
  it('A1 a join offering fewer than ceil(layers / maxSpans) layers is refused (BAD_JOIN)', async () => {
    // Fix A1: a room pays at most maxSpans contributors a request, so each holds at least ceil(layers / maxSpans).
    const { svc, connect } = service(4, { maxSpans: 2 });
    const small = connect(901, 1);
    await settled(small);
    expect(small.closedWith).toBe('BAD_JOIN');
    expect(small.sent.at(-1).message).toMatch(/pays at most 2 contributors a request, so each holds at least 2 of its 4 layers/);
    expect(small.assigns()).toEqual([]);
    const enough = connect(902, 2);
    await settled(enough);
    expect(enough.closedWith).toBeUndefined();
    expect(enough.sent.filter((m) => m.type === 'assign').map((m) => [m.start, m.end])).toEqual([[0, 2]]);
    svc.stop();
  });
});

describe('red team: version moves', () => {
  it('E1 a contributor assigned before a version move, and ready after it, keeps serving: the old room is retired', async () => {
    // Fix E1: the old room's timers are cleared and its members aborted (retire()); `ready` echoes its assignment.
    const { svc, state, connect } = service(2, { loadTimeoutMs: 300 });
    const ws = connect(901, 2);
    await settled(ws);
    expect(ws.assigns().map((a) => a.version)).toEqual([0]);
    // While it downloads version 0, version 1 is published; anyone's GET /api/inference/models moves the room.
    state.version = 1;
    svc.models();
    const [, latest] = ws.assigns();
    expect(latest?.version).toBe(1);
    // It loads version 1 and says ready for that assignment: it serves in the new room.
    ws.text({ type: 'ready', assignment: latest!.assignment });
    expect(svc.models()[0]!.servable).toBe(true);
    // The old room's load timer (300 ms, set on the version-0 assign) would have fired by now; it was cleared.
    await new Promise((r) => setTimeout(r, 600));
    expect(ws.closedWith).toBeUndefined();
    expect(svc.models()[0]!.servable).toBe(true);
    svc.stop();
  });

  it('E1b a ready for version 0 that arrives after the move is not taken for version 1', async () => {
    // Fix E1b: the moved member keeps counting assignments, so the version-1 assign is assignment 2, and the late
    // ready naming assignment 1 (its version-0 load) leaves the room unservable until the version-1 ready.
    const { svc, state, connect } = service(2, {});
    const ws = connect(901, 2);
    await settled(ws);
    state.version = 1;
    svc.models();
    expect(ws.assigns()).toEqual([
      { version: 0, assignment: 1 },
      { version: 1, assignment: 2 },
    ]);
    ws.text({ type: 'ready', assignment: 1 }); // meant for version 0
    expect(svc.models()[0]!.servable).toBe(false);
    ws.text({ type: 'ready', assignment: 2 });
    expect(svc.models()[0]!.servable).toBe(true);
    svc.stop();
  });
});
