/**
 * Where the miner goes when coordinators stop answering or are full, against real HTTP servers on loopback, each
 * playing a coordinator the genesis names (GET /api/chain/genesis) and naming the others in GET /api/round:
 * - a task request gives up on a node after a few tries while another coordinator is known, and when every known
 *   coordinator has gone unanswered since the last task, the miner stops (as with a single node);
 * - on ROUND_FULL it asks the other coordinators in turn, skipping one that does not answer, so a dead coordinator
 *   still listed live cannot keep it from one that has work;
 * - it goes only to coordinators the genesis names, at the URLs the nodes give for them: an entry a node adds for
 *   anyone else is never asked.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeError } from '../../protocol/errors.js';
import { MinerLoop, trainingLine, type MinerOptions } from './miner-loop.js';

const WALLET = '0x' + '11'.repeat(20);

type Behaviour = 503 | 'ROUND_FULL' | 'dead';

interface FakeNode {
  address: string;
  url: string;
  server?: Server;
}

/**
 * Nodes playing coordinators: each answers task requests as its behaviour says (503: cannot answer; ROUND_FULL: its
 * share is paid; dead: a closed port, still listed live by the others) and records them in `tasks`. `extra` entries are
 * added to every GET /api/round answer (a node naming where else to go).
 */
async function fakeNetwork(
  behaviours: Behaviour[],
  tasks: string[],
  extra: () => { address: string; url: string; live: boolean }[] = () => [],
): Promise<FakeNode[]> {
  const nodes: FakeNode[] = behaviours.map((_, i) => ({ address: '0x' + String(i + 1).repeat(40), url: '' }));
  for (const [i, behaviour] of behaviours.entries()) {
    const node = nodes[i]!;
    const server = createServer((req, res) => {
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      req.resume();
      if (req.method === 'GET' && req.url === '/api/chain/genesis') return json(200, { coordinators: nodes.map((n) => n.address) });
      if (req.method === 'GET' && req.url === '/api/round')
        return json(200, {
          coordinator: node.address,
          coordinators: [...nodes.map((n) => ({ address: n.address, url: n.url, live: true })), ...extra()],
        });
      if (req.method === 'POST' && req.url === '/api/task') tasks.push(node.url);
      if (behaviour === 'ROUND_FULL') return json(429, { error: { code: 'ROUND_FULL', message: 'share paid' } });
      json(503, { error: { code: 'BUSY', message: 'busy' } });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (behaviour === 'dead') await new Promise<void>((resolve) => server.close(() => resolve()));
    else node.server = server;
  }
  return nodes;
}

function minerFor(nodeUrl: string, o: Partial<MinerOptions> = {}): MinerLoop {
  return new MinerLoop({
    wallet: WALLET,
    signTaskRequest: async (coordinator) => ({
      wallet: WALLET,
      coordinator,
      issuedAt: String(Date.now()),
      nonce: '0x' + '22'.repeat(32),
      signature: '0x',
    }),
    nodeUrl,
    platform: {
      chunks: { fetch: () => Promise.reject(new Error('no chunk is asked for')) },
      openSession: () => Promise.reject(new Error('no session is opened')),
    },
    power: 100,
    ...o,
  });
}

/** Resolves once `tasks` holds `n` requests. */
const requests = (tasks: string[], n: number): Promise<void> =>
  new Promise((resolve) => {
    const t = setInterval(() => {
      if (tasks.length >= n) {
        clearInterval(t);
        resolve();
      }
    }, 10);
  });

describe('the miner loop when coordinators stop answering or are full', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  it("tries each known coordinator once, briefly while another is left, then stops with the last one's 503", async () => {
    const tasks: string[] = [];
    const nodes = await fakeNetwork([503, 503, 503], tasks);
    servers.push(...nodes.flatMap((n) => (n.server ? [n.server] : [])));
    const log: string[] = [];
    const miner = minerFor(nodes[0]!.url, { retry: { attempts: 6, baseMs: 1, maxMs: 2 }, log: (line) => log.push(line) });
    const err = await miner.run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NodeError);
    expect(err).toMatchObject({ status: 503, code: 'BUSY' });
    // Three tries at each of the first two, the full six at the last one left; nothing after.
    const urls = nodes.map((n) => n.url);
    expect(tasks).toEqual([...Array(3).fill(urls[0]), ...Array(3).fill(urls[1]), ...Array(6).fill(urls[2])]);
    expect(log.filter((l) => l.includes('going on with'))).toEqual([
      expect.stringContaining(`going on with ${urls[1]}`),
      expect.stringContaining(`going on with ${urls[2]}`),
    ]);
  });

  it('asks the other coordinators in turn when one is full, past one that does not answer, and asks no one else', async () => {
    const tasks: string[] = [];
    // A node that is no genesis coordinator, which every GET /api/round names as live.
    const stranger: string[] = [];
    const [intruder] = await fakeNetwork(['ROUND_FULL'], stranger);
    servers.push(intruder!.server!);
    const nodes = await fakeNetwork(['ROUND_FULL', 'dead', 'ROUND_FULL'], tasks, () => [
      { address: '0x' + '99'.repeat(20), url: intruder!.url, live: true },
      { address: '0x' + '11'.repeat(20), url: 'ftp://127.0.0.1:21', live: true },
    ]);
    servers.push(...nodes.flatMap((n) => (n.server ? [n.server] : [])));
    const [a, dead, b] = nodes.map((n) => n.url);
    const stop = new AbortController();
    const miner = minerFor(a!, { signal: stop.signal, retry: { attempts: 3, baseMs: 1, maxMs: 2 } });
    const running = miner.run();
    await requests(tasks, 12);
    stop.abort();
    await running;
    // A, then the dead one (three tries, then it is skipped), then B; from then on A and B in turn.
    const seen = tasks.slice(0, 12);
    expect(seen.filter((u) => u === dead)).toHaveLength(0); // a closed port never records a request
    expect(seen.filter((u) => u === b).length).toBeGreaterThanOrEqual(5);
    expect(seen.filter((u) => u === a).length).toBeGreaterThanOrEqual(5);
    expect(stranger).toEqual([]);
  });
});

describe("the miner's line for a trained task", () => {
  it('gives the steps, the first apart (it opens the session), the steady time a step and tokens a second', () => {
    expect(trainingLine([24_000, 23_000, 23_500, 22_500], 256, [10.9, 9.5, 8.7, 8.4])).toBe(
      '4 steps of 256 tokens in 93.0 s (first 24.0 s, then 23.0 s a step: 11.13 tokens/s), loss 10.900 -> 8.400',
    );
    expect(trainingLine([300, 100, 100], 1024, [1, 0.5, 0.25])).toBe(
      '3 steps of 1024 tokens in 0.50 s (first 0.30 s, then 0.10 s a step: 10240 tokens/s), loss 1.000 -> 0.250',
    );
  });
});
