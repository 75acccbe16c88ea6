// Chat through an inference room against single-process generation (issue 15), in one run, on the same weights,
// prompt and greedy sampling: tokens a second and time to first token. The room is a real coordinator node on
// loopback with three contributors (onnxruntime-node on the CPU, real WebSockets) each holding two of ailo-small's six
// layers; the chat goes over HTTP as a logged-in account's SSE stream. Everything shares this machine's cores, so the
// room's figure is its overhead (relaying hidden states, one forward per span per token, the node's embedding and
// head, checks, and waiting for the request's fee to be in a block, at most one block period: 200 ms here, 1 s or more on a
// real network), not the speed-up of many machines. INFERENCE_BENCH_TOKENS: new tokens per answer (default 48).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { wallet } from '../chain/test/fixtures.js';
import { signInferenceJoin } from '../chain/tx/task-request.js';
import { alice, get, startTestNode, testNet, waitFor } from '../node/test/harness.js';
import { fundedChatter, quotedFee } from '../node/test/inference.js';
import { ALC } from '../chain/spec.js';
import { parseAddress } from '../protocol/address.js';
import { encodeText } from '../trainer/corpus/tokenizer.js';
import { RoomContributor } from '../trainer/inference/contributor.js';
import { ChunkCache } from '../trainer/miner/chunk-cache.js';
import { ForwardSession, nodeRuntime } from '../trainer/runtime/model-session.js';
import { makeSampler } from '../trainer/runtime/sampling.js';

const PROMPT = 'The network trains one shared language model on the spare computers of many people, and pays them';
const RUNS = 3;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(): Promise<void> {
  const tokens = Number(process.env.INFERENCE_BENCH_TOKENS ?? 48);
  const net = testNet(200, { model: 'ailo-small' });
  const cache = mkdtempSync(join(tmpdir(), 'ailo-inference-bench-'));
  const node = await startTestNode(net, join(net.root, 'data'), {
    federation: { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 3_600_000 },
    // Checks as the default node runs them (a quarter of requests): part of the room's cost.
    inference: { perAccountPerMinute: 1000 },
    log: () => {},
  });
  const contributors: RoomContributor[] = [];
  try {
    const cfg = node.federation!.modelConfig;
    const prompt = encodeText(PROMPT);
    console.log(
      `ailo-small (${cfg.n_layer} layers, d=${cfg.n_embd}), prompt ${prompt.length} tokens, ${tokens} new tokens, greedy, median of ${RUNS}`,
    );

    // Single process: ForwardSession.generate (as `ailo-trainer generate`), time to first token measured apart.
    const fs = new ForwardSession(cfg, 'cpu');
    await fs.setWeights(node.federation!.currentWeights());
    const greedy = (): ((l: Float32Array) => number) => makeSampler({ temperature: 0, topK: 0, seed: 1 });
    await fs.generate(prompt, 2, greedy()); // warm-up: sessions created
    const local = { ttft: [] as number[], rate: [] as number[] };
    let expected: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      let t = performance.now();
      await fs.generate(prompt, 1, greedy());
      local.ttft.push(performance.now() - t);
      t = performance.now();
      expected = await fs.generate(prompt, tokens, greedy());
      local.rate.push(tokens / ((performance.now() - t) / 1000));
    }
    await fs.dispose();

    // The room: three contributors of two layers each.
    for (let i = 0; i < 3; i++) {
      const key = wallet(901 + i);
      const c = new RoomContributor({
        nodeUrl: node.url,
        model: 'ailo',
        maxLayers: 2,
        signJoin: async (coord) => signInferenceJoin(key.key, net.network, parseAddress(coord)),
        runtime: nodeRuntime('cpu'),
        chunks: new ChunkCache(join(cache, String(i))),
        webSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      });
      await c.start();
      contributors.push(c);
    }
    // Every layer held (the fee is quoted on the chain that will serve), and a funded chatter.
    await waitFor(
      'the room servable',
      async () => ((await get(`${node.url}/api/inference/models`)).json.models[0].servable ? true : undefined),
      120_000,
    );
    const session = await fundedChatter(node.url, net.network, alice, 'bencher', 100n * ALC);
    const chat = async (): Promise<{ ttft: number; rate: number; ids: number[] }> => {
      // Each answer carries its fee, signed as the Chat page signs it, before the clock starts.
      const fee = await quotedFee(node.url, session.key, 'ailo');
      const t0 = performance.now();
      const res = await fetch(`${node.url}/api/inference/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
        body: JSON.stringify({ model: 'ailo', prompt: PROMPT, temperature: 0, maxTokens: tokens, fee }),
      });
      if (!res.ok) throw new Error(`chat answered ${res.status}: ${await res.text()}`);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      let first = 0;
      let firstAt = 0;
      const ids: number[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = block.slice(block.indexOf('data: ') + 6);
          const e = JSON.parse(data) as { type: string; id?: number; message?: string };
          if (e.type === 'error') throw new Error(`chat failed: ${e.message}`);
          if (e.type === 'token') {
            if (ids.length === 0) {
              firstAt = performance.now();
              first = firstAt - t0;
            }
            ids.push(e.id!);
          }
        }
      }
      const end = performance.now();
      // Tokens after the first, over the time after it: the decode rate, comparable with generate's.
      return { ttft: first, rate: (ids.length - 1) / ((end - firstAt) / 1000), ids };
    };
    await chat(); // warm-up: contributors load, the node opens its sessions
    const room = { ttft: [] as number[], rate: [] as number[] };
    for (let r = 0; r < RUNS; r++) {
      const c = await chat();
      if (JSON.stringify(c.ids) !== JSON.stringify(expected))
        throw new Error('the room answered other tokens than single-process generation');
      room.ttft.push(c.ttft);
      room.rate.push(c.rate);
    }
    const row = (name: string, m: { ttft: number[]; rate: number[] }): string =>
      `${name.padEnd(34)} ${median(m.rate).toFixed(1).padStart(8)} tok/s   first token ${median(m.ttft).toFixed(0).padStart(6)} ms`;
    console.log(row('single process (ForwardSession)', local));
    console.log(row('room: node + 3 contributors (ws)', room));
    console.log(
      `room / single process: ${(median(room.rate) / median(local.rate)).toFixed(2)}x the tokens a second, ${(median(room.ttft) / median(local.ttft)).toFixed(2)}x the time to first token (same tokens)`,
    );
  } finally {
    for (const c of contributors) c.stop();
    await node.stop();
    net.remove();
    rmSync(cache, { recursive: true, force: true });
  }
}
