/**
 * Where the miner goes when coordinators stop answering, against real HTTP servers on loopback: a task request gives
 * up on a node after a few tries while another coordinator is known, and when every known coordinator has gone
 * unanswered since the last task, the miner stops (as with a single node) instead of going round them for ever.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeError } from '../../protocol/errors.js';
import { MinerLoop } from './miner-loop.js';

const WALLET = '0x' + '11'.repeat(20);

/**
 * A node that names itself and `others` as live coordinators and answers every task request with `refusal` (default
 * 503, a node that cannot answer; or 429 ROUND_FULL, a coordinator whose share of the round is paid).
 */
async function busyNode(
  others: () => string[],
  tasks: string[],
  refusal: 503 | 'ROUND_FULL' = 503,
): Promise<{ server: Server; url: string }> {
  let url = '';
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/api/round') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const coordinators = [url, ...others()].map((u) => ({ url: u, live: true }));
      res.end(JSON.stringify({ coordinator: '0x' + '33'.repeat(20), coordinators }));
      return;
    }
    if (req.method === 'POST' && req.url === '/api/task') tasks.push(url);
    req.resume();
    if (refusal === 'ROUND_FULL')
      res
        .writeHead(429, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'ROUND_FULL', message: 'share paid' } }));
    else res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'BUSY', message: 'busy' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url };
}

describe('the miner loop when coordinators stop answering', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  it('tries each known coordinator once, briefly while another is left, then stops with UNREACHABLE', async () => {
    const tasks: string[] = [];
    let urls: string[] = [];
    const nodes = await Promise.all([0, 1, 2].map(() => busyNode(() => urls, tasks)));
    servers.push(...nodes.map((n) => n.server));
    urls = nodes.map((n) => n.url);
    const log: string[] = [];
    const miner = new MinerLoop({
      wallet: WALLET,
      signTaskRequest: async (coordinator) => ({
        wallet: WALLET,
        coordinator,
        issuedAt: String(Date.now()),
        nonce: '0x' + '22'.repeat(32),
        signature: '0x',
      }),
      nodeUrl: urls[0]!,
      platform: {
        chunks: { fetch: () => Promise.reject(new Error('no chunk is asked for')) },
        openSession: () => Promise.reject(new Error('no session is opened')),
      },
      power: 100,
      retry: { attempts: 6, baseMs: 1, maxMs: 2 },
      log: (line) => log.push(line),
    });
    const err = await miner.run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NodeError);
    expect((err as NodeError).code).toBe('UNREACHABLE');
    // Three tries at each of the first two, the full six at the last one left; nothing after.
    expect(tasks).toEqual([...Array(3).fill(urls[0]), ...Array(3).fill(urls[1]), ...Array(6).fill(urls[2])]);
    expect(log.filter((l) => l.includes('going on with'))).toEqual([
      expect.stringContaining(`going on with ${urls[1]}`),
      expect.stringContaining(`going on with ${urls[2]}`),
    ]);
  });

  it("asks the other coordinators in turn when one's share of the round is full, and goes on waiting", async () => {
    const tasks: string[] = [];
    let urls: string[] = [];
    const nodes = await Promise.all([0, 1].map(() => busyNode(() => urls, tasks, 'ROUND_FULL')));
    servers.push(...nodes.map((n) => n.server));
    urls = nodes.map((n) => n.url);
    const stop = new AbortController();
    const miner = new MinerLoop({
      wallet: WALLET,
      signTaskRequest: async (coordinator) => ({
        wallet: WALLET,
        coordinator,
        issuedAt: '1',
        nonce: '0x' + '22'.repeat(32),
        signature: '0x',
      }),
      nodeUrl: urls[0]!,
      platform: {
        chunks: { fetch: () => Promise.reject(new Error('no chunk is asked for')) },
        openSession: () => Promise.reject(new Error('no session is opened')),
      },
      power: 100,
      signal: stop.signal,
    });
    const running = miner.run();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (tasks.length >= 4) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    stop.abort();
    await running;
    expect(tasks.slice(0, 4)).toEqual([urls[0], urls[1], urls[0], urls[1]]);
  });
});
