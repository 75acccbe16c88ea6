/**
 * `ailo-miner` as a real process against a node on loopback: argument and key checks, a run that earns confirmed
 * rewards (its task requests signed with the wallet's key), a restart served from the chunk cache, and Ctrl-C
 * finishing cleanly with a summary.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presetConfig } from '../../trainer/model/config.js';
import { memoryNeeded, SETTINGS_BY_SPEED, trainingMemoryPlan } from '../../trainer/model/memory-plan.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import { wallet } from '../../chain/test/fixtures.js';
import { AiloNode } from '../node.js';
import { alice, get, testNet, waitFor, type TestNet } from '../test/harness.js';
import { ALC } from '../../chain/spec.js';
import { chatEvents, fundedChatter } from '../test/inference.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const miner = toChecksumAddress(wallet(301).address);

interface Run {
  code: number | null;
  out: string;
}

/** Runs ailo-miner; AILO_MINER_KEY is set only when `key` is given. */
function startMiner(
  args: string[],
  key?: string,
  extraEnv: Record<string, string> = {},
): { done: Promise<Run>; output: () => string; kill: (s: NodeJS.Signals) => void } {
  const env = { ...process.env };
  delete env.AILO_MINER_KEY;
  if (key !== undefined) env.AILO_MINER_KEY = key;
  delete env.AILO_NODE;
  Object.assign(env, extraEnv);
  const child = spawn(process.execPath, ['--import', 'tsx', 'node/ailo-miner/cli.ts', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<Run>((resolve) => child.once('exit', (code) => resolve({ code, out })));
  return { done, output: () => out, kill: (s) => child.kill(s) };
}

describe('ailo-miner', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;
  /** The miner's key in a file only its owner can read, and the same key readable by everyone. */
  let keyFile: string;
  let openKeyFile: string;
  /** What the node logged. */
  const nodeLines: string[] = [];

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-miner-cli-'));
    keyFile = join(net.root, 'miner.key');
    writeFileSync(keyFile, `${toHex(wallet(301).key)}\n`, { mode: 0o600 });
    openKeyFile = join(net.root, 'miner-open.key');
    writeFileSync(openKeyFile, toHex(wallet(301).key));
    chmodSync(openKeyFile, 0o644);
    node = await startNode(0);
  });

  /** What each settings' plan needs to be chosen (its total and the planner's headroom), fastest first. */
  const tinyNeeds = SETTINGS_BY_SPEED.map((s) => memoryNeeded(trainingMemoryPlan(presetConfig('ailo-tiny'), 4, 32, s)));
  const coordinatorMemoryGiB = (tinyNeeds[0]! + tinyNeeds[1]!) / 2 / 2 ** 30;

  /** The node on its data folder and `port` (0: any free one), as a restart brings it back. */
  const startNode = (port: number): Promise<AiloNode> =>
    AiloNode.start({
      data: join(net.root, 'data'),
      host: '127.0.0.1',
      port,
      genesisFile: net.genesisPath,
      coordinatorKeyFile: net.keyPath,
      log: (line) => nodeLines.push(line),
      federation: {
        batchSize: 4,
        seqLen: 32,
        steps: 6,
        lr: 3e-3,
        roundSize: 100,
        roundMs: 600_000,
        // Tighter than the default: 8-bit moments move an update by about 2% from float32 ones, so the coordinator must
        // recompute a task in the moments' format its miner trained with.
        recomputeTolerance: 0.01,
        // Less than a fused step plans: the coordinator's own trainings go layer-wise, as a miner's would.
        trainMemoryGiB: coordinatorMemoryGiB,
      },
    });
  afterAll(async () => {
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  it("refuses a missing or unreadable key, a key file others can read, a wallet that is not the key's, a broken checksum, a power outside 20..90 and fp16 off cuda", async () => {
    const key = toHex(wallet(301).key);
    const runs = await Promise.all([
      startMiner(['--no-gui']).done,
      startMiner(['--no-gui', '--wallet', miner]).done,
      startMiner(['--no-gui', '--key-file', join(net.root, 'no-such.key')]).done,
      startMiner(['--no-gui', '--key-file', openKeyFile]).done,
      startMiner(['--no-gui'], '0x1234').done,
      startMiner(['--no-gui', '--wallet', toChecksumAddress(wallet(302).address)], key).done,
    ]);
    const expected = [
      /the miner needs your wallet's key to sign its task requests: .*--key-file PATH.*AILO_MINER_KEY/,
      /the miner needs your wallet's key.*--key-file PATH/,
      /--key-file .*no-such\.key cannot be read \(ENOENT\)/,
      /--key-file .*miner-open\.key may be read by other users \(mode 644\).*chmod 600/,
      /AILO_MINER_KEY does not hold a private key/,
      new RegExp(
        `--wallet ${toChecksumAddress(wallet(302).address)} is not the address of the key given \\(AILO_MINER_KEY\\), which is ${miner}`,
      ),
    ];
    runs.forEach((r, i) => expect([r.code, r.out], String(expected[i])).toEqual([2, expect.stringMatching(expected[i]!)]));

    const broken =
      miner.slice(0, 2) + (miner[2] === miner[2]!.toUpperCase() ? miner[2]!.toLowerCase() : miner[2]!.toUpperCase()) + miner.slice(3);
    const bad = await startMiner(
      ['--wallet', /[a-fA-F]/.test(miner[2]!) ? broken : miner.replace(/[a-f]/, (c) => c.toUpperCase()), '--no-gui'],
      key,
    ).done;
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/EIP-55 checksum/);
    const power = await startMiner(['--key-file', keyFile, '--power', '95']).done;
    expect([power.code, /--power must be an integer from 20 to 90/.test(power.out)]).toEqual([2, true]);
    // Mixed precision is for cuda: onnxruntime's CPU provider would compute it in float32 (webgpu: sums in float16).
    const fp16 = await startMiner(['--key-file', keyFile, '--no-gui', '--cpu', '--precision', 'fp16']).done;
    expect([fp16.code, fp16.out]).toEqual([2, expect.stringMatching(/--precision fp16 is for cuda only, and this miner trains on cpu/)]);
  }, 60_000);

  it('trains a task, gets it accepted and finds its reward confirmed on the ledger; a restart uses the chunk cache', async () => {
    const args = ['--key-file', keyFile, '--node', node.url, '--cpu', '--no-gui', '--power', '90', '--cache', cache, '--tasks', '1'];
    const first = await startMiner(args).done;
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain(`ailo-miner: wallet ${miner},`);
    expect(first.out).toMatch(/accepted 1, rejected 0, earned [0-9.]+ ALC/);
    // Each accepted line says what it earned, not only the multiplier (issue 17).
    expect(first.out).toMatch(/accepted: earned [0-9.]+ ALC \(quality [0-9.]+x\)/);
    expect(first.out).toContain('ledger: 1 of 1 contributions confirmed');
    const chunks = node.federation!.model.manifest.chunks.length;
    expect(first.out).toContain(`chunks: 0 from cache, ${chunks} downloaded`);
    expect(node.ledger.account(wallet(301).address).balance).toBeGreaterThan(0n);
    expect(first.out).toMatch(/training fused: a task of 4x32 tokens .* is planned at [0-9.]+ MiB of the [0-9.]+ [MG]iB available/);
    // The coordinator trained its reference tasks in the layout its memory allowed, and recomputed the fused task in it.
    expect(nodeLines.filter((l) => /reference task \d \([0-9.]+ s to train, layer-wise\)/.test(l))).toHaveLength(2);
    // With less memory allowed than the fused step plans, the same task trains layer-wise, and is accepted.
    const [fused, layerwise, int8] = tinyNeeds;
    const between = ((fused! + layerwise!) / 2 / 2 ** 30).toFixed(4);
    const second = await startMiner([...args, '--memory', between]).done;
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain(`chunks: ${chunks} from cache, 0 downloaded`);
    expect(second.out).toMatch(/training layer-wise: a task of 4x32 tokens/);
    expect(second.out).toMatch(/accepted 1, rejected 0/);
    // Less again: 8-bit moments, and the coordinator's recomputation (in the same format) still matches.
    const third8 = await startMiner([...args, '--memory', ((layerwise! + int8!) / 2 / 2 ** 30).toFixed(4)]).done;
    expect(third8.out).toMatch(/training layer-wise, 8-bit moments: a task of 4x32 tokens/);
    expect(third8.out).toMatch(/accepted 1, rejected 0/);
    // The miner told the coordinator how it trained each task: fused first, then layer-wise as memory grew short.
    const told = nodeLines.filter((l) => /federation: accepted task/.test(l)).map((l) => /trained ([a-z0-9/]+)/.exec(l)?.[1]);
    expect(told).toContain('cpu/fused/float32');
    expect(told.slice(-2)).toEqual(['cpu/layerwise/float32', 'cpu/layerwise/int8']);
    const bad = await fetch(
      `${node.url}/api/submit_gradient?wallet=${miner}&taskId=0x${'11'.repeat(32)}&modelVersion=0&loss=1&batchSize=4&settings=gpu/fast`,
      {
        method: 'POST',
      },
    );
    expect([bad.status, ((await bad.json()) as { error: { message: string } }).error.message]).toEqual([
      400,
      expect.stringMatching(/settings must be <provider>\/<layout>\/<moments>/),
    ]);
    // With too little for any layout, the miner refuses and says what the task needs.
    const third = await startMiner([...args, '--memory', '0.01']).done;
    expect(third.code).not.toBe(0);
    expect(third.out).toMatch(
      /needs at least [0-9.]+ MiB of memory \(layer-wise, 8-bit moments: planned at [0-9.]+ MiB, with 15% kept free for the plan.s error\), and 10\.24 MiB is available; close other programs/,
    );
  }, 180_000);

  it('Ctrl-C during training finishes cleanly with a summary (the node from AILO_NODE, the default power 70%)', async () => {
    const m = startMiner(['--wallet', miner, '--cpu', '--no-gui', '--cache', cache], toHex(wallet(301).key), { AILO_NODE: node.url });
    const end = Date.now() + 60_000;
    while (!/model version \d+/.test(m.output())) {
      if (Date.now() > end) throw new Error(`the miner never loaded the model:\n${m.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    m.kill('SIGINT');
    const r = await m.done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SIGINT: finishing the current step');
    expect(r.out).toMatch(/summary: \d+ tasks/);
    expect(r.out).toContain(`node ${node.url}, device`);
    expect(r.out).toMatch(/, power 70%/);
  }, 90_000);

  it('--serve joins the inference room, serves a chat and earns the inference share; Ctrl-C leaves the room', async () => {
    const before = BigInt((await get(`${node.url}/api/ledger/account/${miner}`)).json.balance);
    // Too little memory for one layer (weights and KV caches): refused, saying what one layer needs.
    const small = await startMiner(['--serve', '--cpu', '--node', node.url, '--cache', cache, '--memory', '0.0001'], toHex(wallet(301).key))
      .done;
    expect(small.code).toBe(1);
    expect(small.out).toMatch(
      /could not join the room: one layer of ailo needs [0-9.]+ MiB \(weights and KV caches\), and 0 MiB is available/,
    );
    const m = startMiner(['--serve', '--cpu', '--node', node.url, '--cache', cache, '--layers', '8'], toHex(wallet(301).key));
    await waitFor(
      'the room servable',
      async () => ((await get(`${node.url}/api/inference/models`)).json.models[0].servable ? true : undefined),
      60_000,
    );
    expect(m.output()).toMatch(/serving layers 0\.\.1 of ailo/);
    const chatter = await fundedChatter(node.url, net.network, alice, 'cli-chatter', ALC);
    const { events } = await chatEvents(node.url, chatter, { model: 'ailo', prompt: 'hello', temperature: 0, maxTokens: 4 });
    expect(events.at(-1)?.type).toBe('done');
    // Unchecked requests' rewards wait in escrow (this node checks a quarter of requests) and are paid when the
    // contributor's rows pass a check: at the latest when it leaves.
    m.kill('SIGINT');
    const r = await m.done;
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/left the room after \d+ forward passes/);
    await waitFor(
      'reward',
      async () =>
        BigInt((await get(`${node.url}/api/ledger/account/${miner}`)).json.balance) === before + 10n ** 17n / 2n ? true : undefined,
      20_000,
    );
    expect((await get(`${node.url}/api/inference/models`)).json.models[0].contributors).toBe(0);
  }, 120_000);

  it('--serve joins again by itself when the node restarts, and stops for good when the node removes it', async () => {
    const servable = (want: boolean) =>
      waitFor(
        `the room ${want ? '' : 'not '}servable`,
        async () => ((await get(`${node.url}/api/inference/models`)).json.models[0].servable === want ? true : undefined),
        60_000,
      );
    const m = startMiner(['--serve', '--cpu', '--node', node.url, '--cache', cache, '--layers', '8'], toHex(wallet(302).key));
    await servable(true);
    // The node goes down and comes back on the same address: the miner's channel drops, and it joins the new room.
    const port = Number(new URL(node.url).port);
    await node.stop();
    await waitFor(
      'the miner to see the channel close',
      async () => (/the channel closed after/.test(m.output()) ? true : undefined),
      30_000,
    );
    node = await startNode(port);
    await servable(true);
    expect(m.output()).toMatch(/joining again in \d+ s/);
    expect((await get(`${node.url}/api/inference/models`)).json.models[0].contributors).toBe(1);
    // Removed for good (as a failed check removes a contributor): the miner does not join again, and exits 1.
    const room = await node.inference!.roomFor('ailo');
    for (const member of room.list()) room.remove(member, 'WRONG_OUTPUT', 'a test removes it');
    const r = await m.done;
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(
      /the node closed the channel after \d+ forward passes \(the node said WRONG_OUTPUT: a test removes it\); not joining again/,
    );
  }, 180_000);
});
