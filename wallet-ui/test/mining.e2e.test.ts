/**
 * Browser mining end to end, in Debian's Chromium through playwright-core, against a real node on loopback with
 * federation on (ailo-tiny, small tasks): the dashboard mines a round with WASM, the node accepts the submission and
 * the reward reaches the balance; a reload loads every chunk from IndexedDB, and one damaged cached chunk is the only
 * one fetched again; Stop ends the worker at once; on 'auto' the miner picks WebGPU on Chromium's SwiftShader adapter
 * and mines a round with it (its own node, with shorter tasks: SwiftShader is a CPU rasterizer, not a GPU), accepted
 * and paid. Screenshots go to $AILO_SCREENSHOTS (default: in the OS temp dir).
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../protocol/address.js';
import { AiloNode } from '../../node/node.js';
import { testNet, waitFor, type TestNet } from '../../node/test/harness.js';
import { ensureUiBuilt } from '../tools/ui-build.js';
import { registerAndOpenMining, unlockAndStartMining } from './mining-account.js';

const CHROMIUM = '/usr/bin/chromium';
// No --disable-gpu: WebGPU then runs on SwiftShader (see RUNTIME.md). Dawn's zeroing of workgroup memory (a loop and
// a barrier at the start of every workgroup; the shaders write it before reading) nearly doubled SwiftShader's shader
// compilation and slowed its steps: off, a WebGPU training step's results are the same and the round takes half as long.
const FLAGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-dawn-features=disable_workgroup_init',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const SHOTS = process.env.AILO_SCREENSHOTS ?? join(tmpdir(), 'ailo-mining-screens');
const WAIT = { timeout: 60_000 };
const FEDERATION = { batchSize: 4, seqLen: 32, steps: 6, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
// On SwiftShader a step of ailo-tiny takes seconds (the first one compiles every shader, about 20 s), so the WebGPU
// round's node hands out tasks of 3 steps.
const WEBGPU_FEDERATION = { ...FEDERATION, steps: 3 };

const startNode = (net: TestNet, federation: typeof FEDERATION): Promise<AiloNode> =>
  AiloNode.start({
    data: join(net.root, 'data'),
    host: '127.0.0.1',
    port: 0,
    genesisFile: net.genesisPath,
    coordinatorKeyFile: net.keyPath,
    log: () => {},
    federation,
  });

describe.skipIf(!existsSync(CHROMIUM))('browser mining in Chromium', () => {
  let net: TestNet;
  let node: AiloNode;
  let browser: Browser;
  /** Every chunk request the node received, counted on the node's own HTTP server. */
  const chunkRequests: string[] = [];
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    await ensureUiBuilt(() => {});
    mkdirSync(SHOTS, { recursive: true });
    net = testNet(50);
    node = await startNode(net, FEDERATION);
    // A context 'request' listener in playwright-core stalls module workers, so the node counts instead.
    (node as unknown as { server: Server }).server.on('request', (req: IncomingMessage) => {
      if (req.url?.startsWith('/api/model/chunk/')) chunkRequests.push(req.url);
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  }, 120_000);
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await node?.stop();
    net?.remove();
    console.log(`browser mining screenshots: ${SHOTS}`);
  });

  /** A page in a fresh profile (its own IndexedDB). */
  async function newPage(): Promise<{ page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT.timeout);
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    return { page };
  }

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  async function registerAndOpenDashboard(page: Page, username: string, url = node.url): Promise<string> {
    await registerAndOpenMining(page, url, username);
    await page.getByRole('link', { name: 'Receive', exact: true }).first().click();
    const address = (await page.getByTestId('address').textContent())!.trim();
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByTestId('mining').waitFor();
    return address;
  }

  /** On a timeout, a screenshot and the miner panel's text make the failure readable. */
  async function explainTimeout(page: Page, wait: Promise<void>, name: string): Promise<void> {
    await wait.catch(async (err: Error) => {
      await shot(page, name);
      throw new Error(`${err.message}\nthe miner's panel: ${(await page.getByTestId('mining').innerText()).replace(/\s+/g, ' ')}`);
    });
  }

  /** Starts mining on `backend` and returns the first submission's outcome line. */
  async function mineOneTask(page: Page, backend: 'auto' | 'wasm' | 'webgpu', timeout = WAIT.timeout): Promise<string> {
    await page.getByTestId('backend').selectOption(backend);
    await page.getByTestId('power').fill('100');
    await page.getByTestId('start-mining').click();
    // The first submission's outcome, or the reason the miner stopped, whichever shows first.
    const first = page.getByTestId('outcomes').locator('li').last();
    const problem = page.getByTestId('mining-problem');
    await explainTimeout(page, first.or(problem).waitFor({ timeout }), `failed-${backend}`);
    if (await problem.isVisible()) throw new Error(`mining stopped: ${await problem.textContent()}`);
    return (await first.textContent())!;
  }

  async function rewardOnLedger(address: string, on = node): Promise<bigint> {
    return waitFor(
      'the reward on the ledger',
      async () => {
        const balance = on.ledger.account(parseAddress(address)).balance;
        return balance > 0n ? balance : undefined;
      },
      30_000,
    );
  }

  it('mines a round with WASM, gets it accepted and paid; a reload trains from the cached chunks', async () => {
    const { page } = await newPage();
    const address = await registerAndOpenDashboard(page, 'wasm-miner');
    const chunks = node.federation!.model.manifest.chunks.length;
    await shot(page, '01-mining-idle');

    const outcome = await mineOneTask(page, 'wasm');
    expect(outcome).toMatch(/accepted, quality [\d.]+x, [\d.]+ ALC/);
    await expect.poll(() => page.getByTestId('device').textContent()).toMatch(/WASM/);
    expect(await page.getByTestId('download').textContent()).toMatch(
      new RegExp(`${chunks} of ${chunks} chunks\\s+\\(0 from this browser's cache, ${chunks} downloaded\\)`),
    );
    expect(Number(await page.getByTestId('loss').textContent())).toBeGreaterThan(0);
    expect(chunkRequests).toHaveLength(chunks);
    expect(new Set(chunkRequests).size).toBe(chunks);
    // Beside the per-task loss (a sawtooth: each task starts from its version's weights), the node's held-out loss by
    // version, which is what shows training's progress (issue 17).
    await page.getByTestId('version-loss').waitFor({ timeout: 30_000 });
    await shot(page, '02-mining-wasm-accepted');
    await page.getByRole('button', { name: 'Stop Mining' }).click();
    await page.getByTestId('start-mining').waitFor();

    const balance = await rewardOnLedger(address);
    expect(balance).toBeGreaterThan(0n);
    // The dashboard's earnings, read from the ledger's history, show the contribution.
    await page
      .getByTestId('earnings')
      .getByText(/Accepted contributions\s*1/)
      .waitFor();
    // On a phone (390 px) the dashboard, earnings chart included, fits the screen (issue 17: it was 513 px wide).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('ailo-earnings-chart').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(page, '02b-dashboard-mobile');
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.getByRole('link', { name: 'Wallet', exact: true }).click();
    await page
      .getByTestId('balance')
      .filter({ hasNotText: /^0ALC$/ })
      .waitFor();
    await shot(page, '03-wallet-after-mining');

    // The session survives a reload (sessionStorage), and every chunk comes from IndexedDB.
    await page.reload();
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByTestId('backend').selectOption('wasm');
    await unlockAndStartMining(page);
    await page.getByTestId('download').getByText(`${chunks} of ${chunks} chunks`).waitFor();
    expect(await page.getByTestId('download').textContent()).toMatch(new RegExp(`\\(${chunks} from this browser's cache, 0 downloaded\\)`));
    expect(chunkRequests).toHaveLength(chunks);
    await page.getByRole('button', { name: 'Stop Mining' }).click();

    // Damage one cached chunk (same size, wrong bytes): the next load must notice and fetch that one again.
    const damaged = await page.evaluate(
      () =>
        new Promise<string>((resolve, reject) => {
          const open = indexedDB.open('ailo-model-chunks');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const store = open.result.transaction('chunks', 'readwrite').objectStore('chunks');
            const cursor = store.openCursor();
            cursor.onsuccess = () => {
              const c = cursor.result!;
              const bytes = new Uint8Array(c.value as ArrayBuffer);
              bytes[0] = bytes[0]! ^ 0xff;
              c.update(bytes.buffer);
              store.transaction.oncomplete = () => resolve(c.key as string);
            };
          };
        }),
    );

    await page.reload();
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByTestId('backend').selectOption('wasm');
    const [worker] = await Promise.all([page.waitForEvent('worker'), unlockAndStartMining(page)]);
    await page.getByTestId('download').getByText(`${chunks} of ${chunks} chunks`).waitFor();
    expect(await page.getByTestId('download').textContent()).toMatch(
      new RegExp(`\\(${chunks - 1} from this browser's cache, 1 downloaded\\)`),
    );
    await page
      .getByTestId('step')
      .filter({ hasText: /^[1-9]\d* \/ \d+$/ })
      .waitFor();
    expect(chunkRequests).toHaveLength(chunks + 1);
    expect(chunkRequests.at(-1)).toBe(`/api/model/chunk/${damaged}`);
    await shot(page, '04-mining-after-reload');

    // Stop is immediate: the worker is terminated mid-task.
    const closed = new Promise((resolve) => worker.once('close', resolve));
    await page.getByRole('button', { name: 'Stop Mining' }).click();
    await closed;
    await page.getByTestId('start-mining').waitFor();
    expect(problems).toEqual([]);
  }, 120_000);

  it('chooses WebGPU on the SwiftShader adapter by itself and mines a round with it, accepted and paid', async () => {
    const gpuNet = testNet(50);
    const gpuNode = await startNode(gpuNet, WEBGPU_FEDERATION);
    try {
      const { page } = await newPage();
      const address = await registerAndOpenDashboard(page, 'webgpu-miner', gpuNode.url);
      const started = Date.now();
      const outcome = await mineOneTask(page, 'auto', 240_000);
      console.log(`WebGPU round on SwiftShader: ${((Date.now() - started) / 1000).toFixed(0)} s from Start Mining to the node's answer`);
      expect(await page.getByTestId('device').textContent()).toMatch(/WebGPU on google swiftshader/i);
      expect(outcome).toMatch(/accepted, quality [\d.]+x, [\d.]+ ALC/);
      expect(await page.getByTestId('mining-stats').textContent()).toMatch(
        new RegExp(`${WEBGPU_FEDERATION.steps} / ${WEBGPU_FEDERATION.steps}`),
      );
      await page.getByRole('button', { name: 'Stop Mining' }).click();
      expect(await rewardOnLedger(address, gpuNode)).toBeGreaterThan(0n);
      // The reward reaches the balance in the header and the dashboard's earnings.
      await page.getByLabel(/^Balance (?!0 ALC$)/).waitFor();
      await page
        .getByTestId('earnings')
        .getByText(/Accepted contributions\s*1/)
        .waitFor();
      await shot(page, '05-mining-webgpu-accepted');
      expect(problems).toEqual([]);
    } finally {
      await gpuNode.stop();
      gpuNet.remove();
    }
  }, 300_000);
});
