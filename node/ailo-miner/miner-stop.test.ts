/**
 * A miner stopped while the node verifies its submission (issue 17: Ctrl-C then lost the task's result and the task
 * could not be given back, "not abandoned: TASK_BUSY"): it waits for the node's answer, records it, and says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChecksumAddress } from '../../protocol/address.js';
import { wallet } from '../../chain/test/fixtures.js';
import { Miner } from '../../trainer/miner/miner.js';
import { AiloNode } from '../node.js';
import { testNet, type TestNet } from '../test/harness.js';
import { taskRequestSigner } from './task-signer.js';

const FED = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 4, roundMs: 120_000, density: 0.01 };

describe('a miner stopped mid-submission', () => {
  let net: TestNet;
  let node: AiloNode;
  let cache: string;

  beforeAll(async () => {
    net = testNet(50);
    cache = mkdtempSync(join(tmpdir(), 'ailo-miner-stop-'));
    node = await AiloNode.start({
      data: join(net.root, 'data'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: net.genesisPath,
      coordinatorKeyFile: net.keyPath,
      log: () => {},
      federation: FED,
    });
  }, 120_000);

  afterAll(async () => {
    await node?.stop().catch(() => undefined);
    net?.remove();
    rmSync(cache, { recursive: true, force: true });
  });

  it("waits for the node's answer, records it in the summary, and does not try to give the task back", async () => {
    const w = wallet(211);
    const stop = new AbortController();
    const lines: string[] = [];
    const miner = new Miner({
      wallet: toChecksumAddress(w.address),
      signTaskRequest: taskRequestSigner(w.key, node.url),
      nodeUrl: node.url,
      provider: 'cpu',
      power: 100,
      cacheDir: cache,
      signal: stop.signal,
      log: (l) => lines.push(l),
      // Ctrl-C the moment the update is on its way to the node.
      onStatus: (s) => {
        if (s.phase === 'submitting') stop.abort();
      },
    });
    const summary = await miner.run();
    expect(stop.signal.aborted).toBe(true);
    expect(lines.join('\n')).toMatch(/stopping: waiting up to 60 s for the node's answer/);
    // The node answered (accepted, or a scored refusal): either way the result is in the summary, not lost.
    expect(summary.accepted.length + summary.rejections.length, lines.join('\n')).toBe(1);
    expect(summary.unanswered).toEqual([]);
    expect(lines.join('\n')).not.toMatch(/not abandoned/);
  }, 120_000);

  it('reports a submission the node never answers as unanswered once the grace runs out, and the CLI says so', async () => {
    // A proxy in front of the node that forwards everything but holds every submission without an answer.
    const held: ServerResponse[] = [];
    const proxy = createServer((req, res) => {
      if (req.url?.startsWith('/api/submit_gradient')) {
        req.resume();
        held.push(res);
        return;
      }
      const upstream = httpRequest(node.url + req.url, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const w = wallet(212);
      const stop = new AbortController();
      const lines: string[] = [];
      const miner = new Miner({
        wallet: toChecksumAddress(w.address),
        signTaskRequest: taskRequestSigner(w.key, url),
        nodeUrl: url,
        provider: 'cpu',
        power: 100,
        cacheDir: cache,
        signal: stop.signal,
        log: (l) => lines.push(l),
        submitAnswerGraceMs: 1500,
        onStatus: (s) => {
          if (s.phase === 'submitting') stop.abort();
        },
      });
      const summary = await miner.run();
      expect(held.length).toBe(1);
      expect(lines.join('\n')).toMatch(/stopping: waiting up to 1.5 s for the node's answer/);
      expect(summary.unanswered).toHaveLength(1);
      expect(summary.accepted.length + summary.rejections.length).toBe(0);
      expect(lines.join('\n')).toMatch(/stopped before the node answered its submission; its result is unknown here/);
    } finally {
      for (const res of held) res.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 120_000);
});
