/**
 * An operator's own GPT-2-family checkpoint served for chat beside the network's model: a safetensors file made the
 * way `ailo-trainer import` writes one (with a config.json beside it), given to the node as `inferenceModels`
 * (`ailo-node --serve-model ID=FILE`); GET /api/inference/models lists it; a contributor joins its room, downloads
 * its chunks (checked against the manifest this coordinator signed) and serves a chat whose answer equals
 * single-process generation on that checkpoint.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallet } from '../../chain/test/fixtures.js';
import { encodeText } from '../../trainer/corpus/tokenizer.js';
import { RoomContributor } from '../../trainer/inference/contributor.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import { initWeights } from '../../trainer/model/weights.js';
import { ForwardSession } from '../../trainer/runtime/model-session.js';
import { makeSampler } from '../../trainer/runtime/sampling.js';
import { loadWeights, saveWeights, writeConfigBeside } from '../../trainer/weights/safetensors.js';
import { main as trainerMain } from '../../trainer/commands.js';

import { AiloNode } from '../node.js';
import { alice, get, startTestNode, testNet, waitFor, type TestNet } from '../test/harness.js';
import { ALC } from '../../chain/spec.js';
import { chatEvents, fundedChatter, nativeContributor, tokenIds } from '../test/inference.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
/** A GPT-2-family config unlike any preset: 3 layers, d=48. */
const MINI: ModelConfig = { vocab_size: 50257, n_positions: 64, n_embd: 48, n_layer: 3, n_head: 3, n_inner: 192, layer_norm_epsilon: 1e-5 };

describe('an imported checkpoint in a room of its own', () => {
  let net: TestNet;
  let node: AiloNode;
  let dir: string;
  let file: string;
  let contributor: RoomContributor;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ailo-imported-'));
    // A "Hugging Face" checkpoint (model.safetensors + config.json), imported as an operator would.
    mkdirSync(join(dir, 'hf'));
    const hf = join(dir, 'hf', 'model.safetensors');
    const w = initWeights(MINI, 9);
    for (const t of w.values()) for (let i = 0; i < t.length; i++) t[i]! *= 8; // sharper logits, fewer near-ties
    await saveWeights(hf, MINI, w);
    await writeConfigBeside(hf, MINI);
    file = join(dir, 'gpt2-mini.safetensors');
    expect(await trainerMain(['import', '--from', join(dir, 'hf'), '--out', file])).toBe(0);
    net = testNet(50);
    node = await startTestNode(net, join(net.root, 'data'), {
      federation: FED,
      inference: { checkRate: 1 },
      inferenceModels: [{ id: 'gpt2-mini', file }],
    });
  }, 120_000);
  afterAll(async () => {
    contributor?.stop();
    await node?.stop();
    net?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is listed, served by a contributor and answers as single-process generation does', async () => {
    const models = (await get(`${node.url}/api/inference/models`)).json.models;
    expect(models.map((m: { id: string }) => m.id)).toEqual(['ailo', 'gpt2-mini']);
    expect(models[1]).toMatchObject({ layers: 3, nEmbd: 48, servable: false, contributors: 0 });
    expect(models[1].version).toBeUndefined();
    expect((await get(`${node.url}/api/inference/models/gpt2-mini/manifest`)).json.manifest.model).toBe('gpt2-mini');
    expect((await get(`${node.url}/api/inference/models/nope/manifest`)).status).toBe(404);

    const key = wallet(421);
    contributor = nativeContributor({
      nodeUrl: node.url,
      network: net.network,
      key: key.key,
      maxLayers: 3,
      cacheDir: dir,
      name: 'cache',
      model: 'gpt2-mini',
    });
    await contributor.start();
    await waitFor(
      'servable',
      async () => ((await get(`${node.url}/api/inference/models`)).json.models[1].servable ? true : undefined),
      30_000,
    );
    expect((await get(`${node.url}/api/inference/models`)).json.models[0].servable).toBe(false);

    const chatter = await fundedChatter(node.url, net.network, alice, 'importer', ALC);
    const { events } = await chatEvents(node.url, chatter, {
      model: 'gpt2-mini',
      prompt: 'Once upon a time',
      temperature: 0,
      maxTokens: 10,
    });
    expect(events.at(-1)).toMatchObject({ type: 'done', tokens: 10 });
    const fs = new ForwardSession(MINI, 'cpu');
    await fs.setWeights(await loadWeights(file, MINI));
    const want = await fs.generate(encodeText('Once upon a time'), 10, makeSampler({ temperature: 0, topK: 0, seed: 1 }));
    await fs.dispose();
    expect(tokenIds(events)).toEqual(want);
  }, 120_000);
});
