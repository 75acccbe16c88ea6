/**
 * A new model version in the browser miner, in Debian's Chromium against a real node on loopback: the node
 * publishes version N+1 that differs from N in one tensor (through its model store, signed, on the ledger; the
 * node restarted to serve it), and the page downloads exactly the chunk that changed, counted on the node, and
 * keeps the rest from IndexedDB. Screenshots go to $AILO_SCREENSHOTS (default: in the OS temp dir).
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiloNode } from '../../node/node.js';
import { startTestNode, testNet, type TestNet } from '../../node/test/harness.js';
import { publishOneTensorVersion } from '../../node/test/model-version.js';
import { ensureUiBuilt } from '../tools/ui-build.js';
import { registerAndOpenMining, watchedPage } from './mining-account.js';
import { CHROMIUM, FLAGS } from './chromium.js';

const SHOTS = process.env.AILO_SCREENSHOTS ?? join(tmpdir(), 'ailo-mining-screens');
const FEDERATION = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
const TENSOR = 'h.0.ln_1.bias';

describe.skipIf(!existsSync(CHROMIUM))('a new model version in the browser miner', () => {
  let net: TestNet;
  let node: AiloNode;
  let browser: Browser;
  /** Chunk names the node served, counted on its own HTTP server (a playwright request listener stalls workers). */
  const chunkRequests: string[] = [];
  const problems: string[] = [];

  async function start(port: number): Promise<void> {
    node = await startTestNode(net, join(net.root, 'data'), { federation: FEDERATION, port });
    (node as unknown as { server: Server }).server.on('request', (req: IncomingMessage) => {
      if (req.url?.startsWith('/api/model/chunk/')) chunkRequests.push(req.url.slice('/api/model/chunk/'.length));
    });
  }

  beforeAll(async () => {
    await ensureUiBuilt(() => {});
    mkdirSync(SHOTS, { recursive: true });
    net = testNet(50);
    await start(0);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    net?.remove();
    console.log(`browser mining screenshots: ${SHOTS}`);
  });

  const cachedChunkNames = (page: Page): Promise<string[]> =>
    page.evaluate(
      () =>
        new Promise<string[]>((resolve, reject) => {
          const open = indexedDB.open('ailo-model-chunks');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const keys = open.result.transaction('chunks', 'readonly').objectStore('chunks').getAllKeys();
            keys.onsuccess = () => {
              open.result.close();
              resolve((keys.result as string[]).sort());
            };
          };
        }),
    );

  /** Starts mining, waits until the model is loaded, stops; returns the download line. */
  async function loadModelInPage(page: Page, version: number, chunks: number): Promise<string> {
    await page.getByTestId('start-mining').click();
    await page.getByTestId('download').getByText(`Model v${version} ready: ${chunks} of ${chunks} chunks`).waitFor();
    const line = (await page.getByTestId('download').textContent())!.replace(/\s+/g, ' ').trim();
    await page.getByRole('button', { name: 'Stop Mining' }).click();
    await page.getByTestId('start-mining').waitFor();
    return line;
  }

  it('downloads only the chunk that changed and keeps the rest from IndexedDB', async () => {
    // The node stopped on purpose leaves the dashboard's polls of it unanswered (ERR_CONNECTION_REFUSED, allowed).
    const { context, page } = await watchedPage(browser, problems);

    await registerAndOpenMining(page, node.url, 'update-miner');
    await page.getByTestId('backend').selectOption('wasm');

    const first = node.federation!.model;
    const names = first.manifest.chunks.map((c) => c.name);
    expect(await loadModelInPage(page, first.version, names.length)).toContain(`(0 from this browser's cache, ${names.length} downloaded)`);
    expect([...chunkRequests].sort()).toEqual([...names].sort());

    const next = await publishOneTensorVersion(node, TENSOR);
    expect(next.changedChunks).toHaveLength(1);
    const replaced = names.filter((n) => !next.signed.manifest.chunks.some((c) => c.name === n));
    expect(replaced).toHaveLength(1);
    const port = Number(new URL(node.url).port);
    await node.stop();
    chunkRequests.length = 0;
    // The same port: the page's origin, and so its IndexedDB, stays the same.
    await start(port);
    expect(node.federation!.version).toBe(next.signed.version);

    const line = await loadModelInPage(page, next.signed.version, names.length);
    expect(line).toContain(`(${names.length - 1} from this browser's cache, 1 downloaded)`);
    expect(chunkRequests).toEqual(next.changedChunks);
    // The cache now holds exactly the new version: the replaced chunk is dropped, its successor kept.
    expect(await cachedChunkNames(page)).toEqual(next.signed.manifest.chunks.map((c) => c.name).sort());
    // The dashboard's next status poll finds the node back, on the new version.
    await page.getByRole('status').filter({ hasText: 'not answering' }).waitFor({ state: 'detached' });
    await page.getByText(`v${next.signed.version}`, { exact: true }).waitFor();
    await page.screenshot({ path: join(SHOTS, '21-mining-new-version-one-chunk.png'), fullPage: true });
    await context.close();
    expect(problems).toEqual([]);
  }, 150_000);
});
