// Verification spread over coordinators (issue 13): submissions verified a second by one coordinator, and by three
// coordinators that each verify the submissions sent to them, in one run, as real `ailo-node` processes on loopback.
// Each submission is a real task trained here beforehand (ailo-tiny, the devnet's rows, 4 steps) and sent to the
// coordinator that issued it; the clock runs from the first submission to the last answer, all sent at once, after
// one warm-up submission per coordinator (its version's pools and reference tasks are prepared at the first).
// COORDINATOR_BENCH_TASKS: submissions timed per coordinator (default 6). On this 2-core machine three processes
// share two cores, so the ratio is bounded by 2 here; on a machine per coordinator it is bounded by the count.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALC } from '../chain/spec.js';
import { wallet } from '../chain/test/fixtures.js';
import { signTaskRequest } from '../chain/tx/task-request.js';
import { genesisFor } from '../genesis/devnet.js';
import { formatGenesis } from '../genesis/genesis.js';
import { GENESIS_INIT_SEED } from '../node/federation/model-store.js';
import { spawnNode, type NodeProcess } from '../node/test/process.js';
import { toChecksumAddress } from '../protocol/address.js';
import { toHex } from '../protocol/bytes.js';
import { submitPath, type Task } from '../protocol/federation.js';
import { tokensFromBytes } from '../trainer/corpus/token-bytes.js';
import { trainLocally } from '../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../trainer/federated/task-update.js';
import { presetConfig } from '../trainer/model/config.js';
import { initWeights } from '../trainer/model/weights.js';
import { networkDomain } from '../chain/genesis-block.js';
import { parseGenesis } from '../genesis/genesis.js';

const ROUNDS = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 1000, roundMs: 3_600_000, tasksPerWallet: 64, density: 0.01 };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Prepared {
  url: string;
  path: string;
  body: Uint8Array;
}

/** Submissions verified a second by `count` coordinators, `perCoordinator` each (plus one warm-up each). */
async function measure(count: number, perCoordinator: number): Promise<{ rate: number; accepted: number; sent: number; seconds: number }> {
  const root = await mkdtemp(join(tmpdir(), 'ailo-coord-bench-'));
  const nodes: NodeProcess[] = [];
  try {
    const keys = Array.from({ length: count }, (_, i) => wallet(801 + i));
    const genesisText = formatGenesis(
      genesisFor({
        name: 'ailo-coordinators-bench',
        chainId: 793n,
        coordinators: keys.map((k) => k.address),
        alloc: new Map(keys.map((k) => [k.address, 10n * ALC])),
        blockPeriodMs: 200,
        outOfTurnDelayMs: 200,
        timestamp: 1_700_000_000_000n,
      }),
    );
    const network = networkDomain(parseGenesis(genesisText).spec);
    await writeFile(join(root, 'genesis.json'), genesisText);
    await writeFile(join(root, 'rounds.json'), JSON.stringify(ROUNDS));
    const ports = await Promise.all(keys.map(() => freePort()));
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);
    for (const [i, k] of keys.entries()) {
      await writeFile(join(root, `c${i}.key`), toHex(k.key));
      nodes.push(
        await spawnNode([
          ...['--data', join(root, `c${i}`), '--port', String(ports[i]), '--genesis', join(root, 'genesis.json')],
          ...['--coordinator-key', join(root, `c${i}.key`), '--rounds', join(root, 'rounds.json'), '--log-level', 'warn'],
          ...(count > 1 ? ['--peers', urls.filter((_, j) => j !== i).join(',')] : []),
        ]),
      );
    }
    const cfg = presetConfig(parseGenesis(genesisText).spec.model);
    const weights = initWeights(cfg, GENESIS_INIT_SEED);
    // Tasks issued by each coordinator, trained here as a miner would (not timed).
    const prepared: Prepared[][] = [];
    for (const [i, url] of urls.entries()) {
      const miner = wallet(820 + i);
      const list: Prepared[] = [];
      for (let t = 0; t < perCoordinator + 1; t++) {
        const res = await fetch(`${url}/api/task`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(signTaskRequest(miner.key, network)),
        });
        if (res.status !== 201) throw new Error(`task from ${url}: ${res.status} ${await res.text()}`);
        const task = (await res.json()) as Task;
        const tokens = tokensFromBytes(new Uint8Array(await (await fetch(`${url}/api/task/${task.taskId}/tokens`)).arrayBuffer()));
        const result = (await trainLocally(cfg, 'cpu', weights, tokens, task))!;
        list.push({
          url,
          path: submitPath({
            wallet: toChecksumAddress(miner.address),
            taskId: task.taskId,
            modelVersion: task.modelVersion,
            loss: result.losses.at(-1)!,
            batchSize: task.batchSize,
          }),
          body: compressTaskUpdate(cfg, result.update, task).bytes,
        });
      }
      prepared.push(list);
    }
    const submit = async (p: Prepared): Promise<boolean> => {
      const res = await fetch(p.url + p.path, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(p.body),
        signal: AbortSignal.timeout(600_000),
      });
      await res.arrayBuffer();
      return res.status === 200 || res.status === 201;
    };
    // Warm-up: the version's pools and reference tasks, once per coordinator, all at once.
    await Promise.all(prepared.map((list) => submit(list[0]!)));
    const started = performance.now();
    const outcomes = await Promise.all(prepared.map(async (list) => Promise.all(list.slice(1).map((p) => submit(p)))));
    const seconds = (performance.now() - started) / 1000;
    const sent = outcomes.flat().length;
    return { rate: sent / seconds, accepted: outcomes.flat().filter(Boolean).length, sent, seconds };
  } finally {
    for (const n of nodes) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await rm(root, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const per = Number(process.env.COORDINATOR_BENCH_TASKS ?? 6);
  console.log(
    `submissions verified a second (ailo-tiny, tasks of ${ROUNDS.steps} steps of ${ROUNDS.batchSize}x${ROUNDS.seqLen}; recomputation and scoring on)`,
  );
  const one = await measure(1, per);
  console.log(
    `1 coordinator:  ${one.rate.toFixed(3)} submissions/s (${one.sent} in ${one.seconds.toFixed(1)} s, ${one.accepted} accepted)`,
  );
  const three = await measure(3, per);
  console.log(
    `3 coordinators: ${three.rate.toFixed(3)} submissions/s (${three.sent} in ${three.seconds.toFixed(1)} s, ${three.accepted} accepted)`,
  );
  console.log(
    `ratio: ${(three.rate / one.rate).toFixed(2)}x with 3 coordinators (this machine: ${(await import('node:os')).availableParallelism()} cores)`,
  );
}
