/**
 * DELETE /api/task/:id on a real node: a miner gives back a task it will not finish, which frees the wallet's slot
 * and can never be submitted; giving back a task that holds no slot any more (used, abandoned, expired) is idempotent
 * and changes nothing, since a stopping miner cannot know whether its submission got in first; a bad request, an
 * unknown task or another wallet's task is refused by name; a stopped ailo-miner abandons its task itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChecksumAddress } from '../../protocol/address.js';
import { wallet } from '../../chain/test/fixtures.js';
import { signTaskRequest } from '../../chain/tx/task-request.js';
import type { Task } from '../../protocol/federation.js';
import { Miner } from '../../trainer/miner/miner.js';
import { taskRequestSigner } from '../ailo-miner/task-signer.js';
import { AiloNode } from '../node.js';
import { get, startTestNode, testNet, type TestNet, coordinator } from '../test/harness.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000, tasksPerWallet: 2 };
const wallets = [311, 312, 313].map((n) => wallet(n));
const [carol, dave, erin] = wallets.map((w) => toChecksumAddress(w.address)) as [string, string, string];
/** The key that signs `who`'s task requests. */
const keyOf = (who: string): Uint8Array => wallets.find((w) => w.address === who.toLowerCase())!.key;

describe('abandoning a task', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-abandon-'));
    node = await startTestNode(net, join(net.root, 'data'), { federation: FED });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  async function newTask(who: string): Promise<{ status: number; task: Task & { error?: { code: string } } }> {
    const res = await fetch(`${node.url}/api/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signTaskRequest(keyOf(who), net.network, coordinator.address)),
    });
    return { status: res.status, task: await res.json() };
  }

  async function abandon(taskId: string, query: string): Promise<{ status: number; json: any }> {
    const res = await fetch(`${node.url}/api/task/${taskId}${query}`, { method: 'DELETE' });
    return { status: res.status, json: await res.json() };
  }

  const state = async (taskId: string): Promise<string> => (await get(`${node.url}/api/task/${taskId}`)).json.state;

  it("frees the wallet's slot, and the abandoned task cannot be submitted or abandoned again", async () => {
    const first = (await newTask(carol)).task;
    await newTask(carol);
    const refused = await newTask(carol);
    expect(refused.status).toBe(429);
    expect(refused.task.error?.code).toBe('TOO_MANY_TASKS');

    const r = await abandon(first.taskId, `?wallet=${carol}`);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ taskId: first.taskId, wallet: carol, state: 'abandoned' });
    expect(await state(first.taskId)).toBe('abandoned');
    expect(node.federation!.roundStatus().openTasks).toBe(1);
    expect((await newTask(carol)).status).toBe(201);

    const again = await abandon(first.taskId, `?wallet=${carol}`);
    expect([again.status, again.json.state]).toEqual([200, 'abandoned']);
    const q = new URLSearchParams({
      wallet: carol,
      taskId: first.taskId,
      modelVersion: String(first.modelVersion),
      loss: '3',
      batchSize: String(first.batchSize),
    });
    const submit = await fetch(`${node.url}/api/submit_gradient?${q}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(8),
    });
    expect([submit.status, ((await submit.json()) as any).error.code]).toEqual([409, 'TASK_ABANDONED']);
    // The query's earlier name for the wallet (a login name elsewhere in the API) is refused by name.
    q.delete('wallet');
    q.set('username', carol);
    const renamed = await fetch(`${node.url}/api/submit_gradient?${q}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(8),
    });
    const body = (await renamed.json()) as any;
    expect([renamed.status, body.error.code]).toEqual([400, 'BAD_REQUEST']);
    expect(body.error.message).toMatch(/username= is now wallet=/);
  });

  it("refuses a bad request, an unknown task and another wallet's task by name, changing nothing; an expired task is simply abandoned", async () => {
    const task = (await newTask(dave)).task;
    const cases: [string, string, number, string][] = [
      [task.taskId, '', 400, 'BAD_REQUEST'],
      [task.taskId, '?wallet=0x1234', 400, 'BAD_ADDRESS'],
      ['0x1234', `?wallet=${dave}`, 400, 'BAD_HASH'],
      [`0x${'ab'.repeat(32)}`, `?wallet=${dave}`, 404, 'UNKNOWN_TASK'],
      [task.taskId, `?wallet=${erin}`, 403, 'TASK_NOT_YOURS'],
    ];
    for (const [id, query, status, code] of cases) {
      const r = await abandon(id, query);
      expect([r.status, r.json.error?.code], `${id} ${query}`).toEqual([status, code]);
      expect(r.json.error.message.length).toBeGreaterThan(10);
    }
    expect(await state(task.taskId)).toBe('open');
    // Past its deadline (set back here rather than waiting out the task's ten minutes).
    node.federation!.tasks.get(task.taskId as `0x${string}`)!.deadline = Date.now() - 1;
    const expired = await abandon(task.taskId, `?wallet=${dave}`);
    expect([expired.status, expired.json.state]).toEqual([200, 'abandoned']);
    expect(await state(task.taskId)).toBe('abandoned');
  });

  it('a task with an accepted submission stays used; ailo-miner stopped mid-task abandons its task', async () => {
    const done = new Miner({
      wallet: erin,
      signTaskRequest: taskRequestSigner(keyOf(erin), node.url),
      nodeUrl: node.url,
      provider: 'cpu',
      power: 100,
      cacheDir: cache,
      maxTasks: 1,
    });
    const summary = await done.run();
    expect(summary.accepted).toHaveLength(1);
    const used = summary.accepted[0]!.taskId;
    // A miner stopped just after its submission got in gives the task back: nothing changes, and it is told so.
    const r = await abandon(used, `?wallet=${erin}`);
    expect([r.status, r.json.state]).toEqual([200, 'used']);
    expect(await state(used)).toBe('used');

    // The stopped miner's task, from the tokens request it makes.
    let taskId: string | undefined;
    const server = (node as unknown as { server: Server }).server;
    const onRequest = (req: IncomingMessage): void => {
      taskId ??= /^\/api\/task\/(0x[0-9a-f]{64})\/tokens$/.exec(req.url ?? '')?.[1];
    };
    server.on('request', onRequest);
    const stop = new AbortController();
    const lines: string[] = [];
    const stopped = new Miner({
      wallet: erin,
      signTaskRequest: taskRequestSigner(keyOf(erin), node.url),
      nodeUrl: node.url,
      provider: 'cpu',
      power: 100,
      cacheDir: cache,
      signal: stop.signal,
      log: (l) => lines.push(l),
      onStatus: (st) => {
        if (st.step >= 1) stop.abort();
      },
    });
    const s = await stopped.run();
    server.off('request', onRequest);
    expect(s.accepted).toHaveLength(0);
    expect(taskId).toBeDefined();
    expect(await state(taskId!)).toBe('abandoned');
    expect(lines).toContain(`task ${taskId!.slice(0, 10)} abandoned`);
  }, 120_000);

  it('ailo-miner stopped before training (while loading the model) abandons its task too', async () => {
    const stop = new AbortController();
    const lines: string[] = [];
    const early = new Miner({
      wallet: erin,
      signTaskRequest: taskRequestSigner(keyOf(erin), node.url),
      nodeUrl: node.url,
      provider: 'cpu',
      power: 100,
      cacheDir: mkdtempSync(join(tmpdir(), 'ailo-abandon-cold-')),
      signal: stop.signal,
      log: (l) => lines.push(l),
      onStatus: (st) => {
        if (st.phase === 'loading-model') stop.abort();
      },
    });
    const s = await early.run();
    expect(s.tasks).toBe(0);
    const line = lines.find((l) => /^task 0x[0-9a-f]{8} abandoned$/.test(l));
    expect(line, lines.join('\n')).toBeDefined();
    // Erin holds no open task: both of the wallet's slots are free.
    const fresh = [await newTask(erin), await newTask(erin)];
    expect(fresh.map((t) => t.status)).toEqual([201, 201]);
    for (const t of fresh) expect((await abandon(t.task.taskId, `?wallet=${erin}`)).status).toBe(200);
  }, 60_000);
});
