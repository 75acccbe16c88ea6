// Verification spread over coordinators (issue 13): submissions verified a second by one coordinator, and by three
// coordinators that each verify the submissions sent to them, in one run, as real `ailo-node` processes on loopback.
// Each submission is a real task trained here beforehand (ailo-tiny, the devnet's rows, 4 steps) and sent to the
// coordinator that issued it; the clock runs from the first submission to the last answer, all sent at once, after
// one warm-up submission per coordinator (its version's pools and reference tasks are prepared at the first).
// Measured twice: with onnxruntime's default threads (one coordinator already uses every core of this machine, so
// three on it can do no more) and with one thread per coordinator (AILO_CPU_THREADS=1: each as if on a machine of one
// core, bounded here by the cores there are). COORDINATOR_BENCH_TASKS: submissions timed per coordinator (default 6).
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { wallet } from '../chain/test/fixtures.js';
import { signTaskRequest } from '../chain/tx/task-request.js';
import { GENESIS_INIT_SEED } from '../node/federation/model-store.js';
import { spawnCoordinators, type NodeProcess } from '../node/test/process.js';
import { parseAddress, toChecksumAddress } from '../protocol/address.js';
import type { RoundStatus } from '../protocol/ledger.js';
import { NodeClient } from '../protocol/client.js';
import { submitPath, type Task } from '../protocol/federation.js';
import { tokensFromBytes } from '../trainer/corpus/token-bytes.js';
import { trainLocally } from '../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../trainer/federated/task-update.js';
import { presetConfig } from '../trainer/model/config.js';
import { initWeights } from '../trainer/model/weights.js';
import { networkDomain } from '../chain/genesis-block.js';
import { parseGenesis } from '../genesis/genesis.js';

const ROUNDS = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 1000, roundMs: 3_600_000, tasksPerWallet: 64, density: 0.01 };

interface Prepared {
  url: string;
  path: string;
  body: Uint8Array;
}

/** Submissions verified a second by `count` coordinators, `perCoordinator` each (plus one warm-up each). */
async function measure(
  count: number,
  perCoordinator: number,
  threads: number | undefined,
): Promise<{ rate: number; accepted: number; sent: number; seconds: number }> {
  const root = await mkdtemp(join(tmpdir(), 'ailo-coord-bench-'));
  const nodes: NodeProcess[] = [];
  try {
    const keys = Array.from({ length: count }, (_, i) => wallet(801 + i));
    // The coordinators' onnxruntime threads (AILO_CPU_THREADS); the bench's own training below uses the default.
    const net = await spawnCoordinators(root, {
      name: 'ailo-coordinators-bench',
      chainId: 793n,
      keys,
      rounds: ROUNDS,
      env: threads ? { AILO_CPU_THREADS: String(threads) } : undefined,
    });
    nodes.push(...net.nodes);
    const { urls, genesisText } = net;
    const network = networkDomain(parseGenesis(genesisText).spec);
    const cfg = presetConfig(parseGenesis(genesisText).spec.model);
    const weights = initWeights(cfg, GENESIS_INIT_SEED);
    // Tasks issued by each coordinator, trained here as a miner would (not timed).
    const prepared: Prepared[][] = [];
    for (const [i, url] of urls.entries()) {
      const miner = wallet(820 + i);
      const list: Prepared[] = [];
      for (let t = 0; t < perCoordinator + 1; t++) {
        // Through the protocol client: a kept-alive connection the node closed while the bench trained is retried.
        const client = new NodeClient(url);
        const coordinator = parseAddress((await client.json<RoundStatus>('/api/round')).coordinator, 'coordinator');
        const task = await client.postJson<Task>('/api/task', () => Promise.resolve(signTaskRequest(miner.key, network, coordinator)));
        const tokens = tokensFromBytes((await client.bytes(`/api/task/${task.taskId}/tokens`)).bytes);
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
      const res = await new NodeClient(p.url).request(
        p.path,
        { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(p.body) },
        { timeoutMs: 600_000, transientAsAnswer: true },
      );
      await res.arrayBuffer();
      return res.ok;
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
  const cores = availableParallelism();
  console.log(
    `submissions verified a second (ailo-tiny, tasks of ${ROUNDS.steps} steps of ${ROUNDS.batchSize}x${ROUNDS.seqLen}; recomputation and scoring on; ${cores} cores)`,
  );
  // Each coordinator on its own machine is the deployment; here they share this one. Two fair settings: every
  // coordinator with onnxruntime's default threads (one already uses every core), and every coordinator held to one
  // core's thread (as if each had a machine of one core).
  for (const [what, threads] of [
    ['default threads (every core per coordinator)', undefined],
    ['one thread per coordinator', 1],
  ] as const) {
    const one = await measure(1, per, threads);
    const three = await measure(3, per, threads);
    console.log(`${what}:`);
    console.log(
      `  1 coordinator:  ${one.rate.toFixed(3)} submissions/s (${one.sent} in ${one.seconds.toFixed(1)} s, ${one.accepted} accepted)`,
    );
    console.log(
      `  3 coordinators: ${three.rate.toFixed(3)} submissions/s (${three.sent} in ${three.seconds.toFixed(1)} s, ${three.accepted} accepted): ${(three.rate / one.rate).toFixed(2)}x`,
    );
  }
}
