/** The native miner's HTTP client: a single-use body (a signed task request) is made afresh for every retry. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from './node-client.js';

describe('NodeClient.postJson', () => {
  let server: Server;
  let url: string;
  const bodies: string[] = [];

  beforeAll(async () => {
    // Busy (503) twice, then a task; a replayed body would be refused.
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const replayed = bodies.includes(body);
        bodies.push(body);
        res.writeHead(replayed ? 409 : bodies.length < 3 ? 503 : 201, { 'content-type': 'application/json' });
        res.end(JSON.stringify(replayed ? { error: { code: 'REPLAYED_TASK_REQUEST', message: 'used' } } : { taskId: body }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('calls a function body once per attempt, so no retry repeats a signed request', async () => {
    const client = new NodeClient(url, { attempts: 5, baseMs: 1, maxMs: 2 });
    let n = 0;
    const task = await client.postJson<{ taskId: string }>('/api/task', async () => ({ nonce: ++n }));
    expect(bodies).toEqual(['{"nonce":1}', '{"nonce":2}', '{"nonce":3}']);
    expect(task.taskId).toBe('{"nonce":3}');
    // A plain body is sent as it is, every time.
    await expect(client.postJson('/api/task', { nonce: 3 })).rejects.toMatchObject({ code: 'REPLAYED_TASK_REQUEST' });
  });
});
