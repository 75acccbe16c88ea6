/**
 * The browser miner when things go wrong, in Debian's Chromium against a real node on loopback (ailo-tiny, small
 * tasks), reached through a proxy that can fail requests: task, tokens, chunk and submit requests that meet a
 * 502/503/504 or a broken answer are retried with backoff (shown in the log) and the task still gets accepted; the
 * accepted contribution is checked on the ledger (a record that differs from the promise is flagged); Stop
 * abandons the open task on the node, so starting again and again never hits TOO_MANY_TASKS; Stop ends retries.
 * Screenshots go to $AILO_SCREENSHOTS (default: in the OS temp dir).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiloNode } from '../../node/node.js';
import { testNet, type TestNet } from '../../node/test/harness.js';
import { ensureUiBuilt } from '../tools/ui-build.js';
import { registerAndOpenMining } from './mining-account.js';
import { CHROMIUM, FLAGS } from './chromium.js';

const SHOTS = process.env.AILO_SCREENSHOTS ?? join(tmpdir(), 'ailo-mining-screens');
const WAIT = { timeout: 60_000 };
// The default tasksPerWallet (4): a Stop that left its task open would hit TOO_MANY_TASKS by the fifth start.
const FEDERATION = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };

/** What the proxy does instead of forwarding: a gateway error, or bytes that are no HTTP answer (fetch throws). */
type FaultKind = 502 | 503 | 504 | 'garbage';
interface Fault {
  method: string;
  path: RegExp;
  kind: FaultKind;
  times: number;
}

/** A reverse proxy to the node that plays the faults it is given and records every request it sees. */
class FaultyProxy {
  readonly faults: Fault[] = [];
  readonly seen: { method: string; url: string; fault?: FaultKind }[] = [];
  /** Rewrites the node's JSON answer to matching GET requests (for the ledger check). */
  tamper: { path: RegExp; edit: (url: string, body: any) => any } | undefined;
  private server!: Server;

  constructor(private readonly target: URL) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const url = req.url ?? '/';
      const fault = this.faults.find((f) => f.times > 0 && f.method === req.method && f.path.test(url));
      this.seen.push({ method: req.method!, url, fault: fault?.kind });
      if (fault) {
        fault.times--;
        req.resume();
        if (fault.kind === 'garbage') {
          req.socket.end('not an http answer\r\n\r\n');
          return;
        }
        res.writeHead(fault.kind, { 'content-type': 'text/plain', connection: 'close' }).end('the node is not reachable');
        return;
      }
      const tamper = req.method === 'GET' && this.tamper?.path.test(url) ? this.tamper : undefined;
      const up = request(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: url, headers: req.headers },
        (answer) => {
          if (!tamper || answer.statusCode !== 200) {
            res.writeHead(answer.statusCode!, answer.headers);
            answer.pipe(res);
            return;
          }
          const parts: Buffer[] = [];
          answer
            .on('data', (c: Buffer) => parts.push(c))
            .on('end', () => {
              const body = JSON.stringify(tamper.edit(url, JSON.parse(Buffer.concat(parts).toString('utf8'))));
              res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
            });
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe.skipIf(!existsSync(CHROMIUM))('browser mining when the node misbehaves', () => {
  let net: TestNet;
  let node: AiloNode;
  let proxy: FaultyProxy;
  let origin: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    await ensureUiBuilt(() => {});
    mkdirSync(SHOTS, { recursive: true });
    net = testNet(50);
    node = await AiloNode.start({
      data: join(net.root, 'data'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: net.genesisPath,
      coordinatorKeyFile: net.keyPath,
      log: () => {},
      federation: FEDERATION,
    });
    proxy = new FaultyProxy(new URL(node.url));
    origin = await proxy.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  }, 120_000);
  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await proxy?.stop();
    await node?.stop();
    net?.remove();
    console.log(`browser mining screenshots: ${SHOTS}`);
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT.timeout);
    page.on('console', (m) => {
      // The browser reports each failed request itself; the miner's retries of them are what is tested here.
      if (m.type() === 'error' && !/Failed to load resource|net::ERR_/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    return page;
  }

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** The miner's log as it is now ('' before its first line). */
  const minerLog = async (page: Page): Promise<string> => {
    const log = page.getByTestId('mining-log');
    return (await log.count()) > 0 ? ((await log.textContent()) ?? '') : '';
  };
  const taskState = (taskId: string): string | undefined => node.federation!.tasks.get(taskId as `0x${string}`)?.state;

  async function registerAndOpenDashboard(page: Page, username: string): Promise<void> {
    await registerAndOpenMining(page, origin, username);
    await page.getByTestId('backend').selectOption('wasm');
    await page.getByTestId('power').fill('100');
  }

  /** On a timeout, a screenshot and the miner panel's text make the failure readable. */
  async function explain(page: Page, wait: Promise<unknown>, name: string): Promise<void> {
    await wait.catch(async (err: Error) => {
      await shot(page, name);
      throw new Error(
        `${err.message}\nthe miner's panel: ${(await page.getByTestId('mining').innerText()).replace(/\s+/g, ' ')}\nlog: ${await minerLog(page)}`,
      );
    });
  }

  it('retries task, tokens, chunk and submit requests while the node is unreachable, gets the task accepted and checks the ledger', async () => {
    const page = await newPage();
    await registerAndOpenDashboard(page, 'flaky-node-miner');
    proxy.faults.push(
      { method: 'POST', path: /^\/api\/task$/, kind: 504, times: 1 },
      { method: 'GET', path: /^\/api\/model\/chunk\//, kind: 502, times: 1 },
      { method: 'GET', path: /^\/api\/task\/0x[0-9a-f]+\/tokens$/, kind: 'garbage', times: 1 },
      { method: 'POST', path: /^\/api\/submit_gradient/, kind: 503, times: 2 },
    );
    // The second contribution's ledger record comes back with another reward: the panel must flag it.
    let first: string | undefined;
    proxy.tamper = {
      path: /^\/api\/ledger\/tx\/0x/,
      edit: (url, body) => {
        first ??= url;
        return url === first ? body : { ...body, tx: { ...body.tx, reward: '1' } };
      },
    };
    await page.getByTestId('start-mining').click();
    const outcomes = page.getByTestId('outcomes').locator('li');
    await explain(page, outcomes.first().or(page.getByTestId('mining-problem')).waitFor(), 'failed-retries');
    expect(await page.getByTestId('mining-problem').count()).toBe(0);
    expect(await outcomes.first().textContent()).toMatch(/accepted, quality [\d.]+x/);

    const log = await minerLog(page);
    expect(log).toMatch(/node unreachable \(HTTP 504\) on task; retry 1 in [\d.]+ s/);
    expect(log).toMatch(/node unreachable \(HTTP 502\) on chunk [0-9a-f]{12}; retry 1 in [\d.]+ s/);
    expect(log).toMatch(/node unreachable \(Failed to fetch\) on tokens; retry 1 in [\d.]+ s/);
    expect(log).toMatch(/node unreachable \(HTTP 503\) on submit; retry 1 in [\d.]+ s/);
    expect(log).toMatch(/node unreachable \(HTTP 503\) on submit; retry 2 in [\d.]+ s/);
    expect(proxy.faults.map((f) => f.times)).toEqual([0, 0, 0, 0]);

    // The first contribution reaches a block as promised.
    await explain(page, page.getByTestId('ledger-status').getByText('On ledger 1/1').waitFor(), 'failed-ledger-confirmed');
    // Its line says so (the newest line may be the next task's by now, under load).
    await outcomes
      .filter({ hasText: /on ledger, block \d+/ })
      .first()
      .waitFor();
    await shot(page, '11-mining-retries-ledger-confirmed');

    // The miner goes on to the next task; that contribution's record (as the proxy serves it) differs.
    await explain(
      page,
      page
        .getByTestId('ledger-status')
        .getByText(/On ledger 1\/2 \(1 differ/)
        .waitFor({ timeout: 90_000 }),
      'failed-ledger-mismatch',
    );
    expect(await outcomes.first().textContent()).toMatch(/ledger record differs: .*reward 1 \(accepted with \d+\)/);
    expect(await outcomes.first().getAttribute('class')).toBe('bad');
    await page.getByText(/^Log \(/).click();
    await shot(page, '12-mining-ledger-mismatch');
    await page.getByRole('button', { name: 'Stop Mining' }).click();
    proxy.tamper = undefined;
    expect(problems).toEqual([]);
  }, 180_000);

  it('Stop abandons the open task, so starting again many times never runs out of task slots; Stop ends retries', async () => {
    const page = await newPage();
    await registerAndOpenDashboard(page, 'stop-start-miner');
    const before = proxy.seen.length;
    const abandonedAt = (): string[] =>
      proxy.seen
        .slice(before)
        .filter((r) => r.method === 'DELETE')
        .map((r) => /^\/api\/task\/(0x[0-9a-f]{64})\?/.exec(r.url)?.[1] ?? r.url);
    const tasks: string[] = [];
    for (let round = 1; round <= 5; round++) {
      const taskLines = (await minerLog(page)).match(/task 0x[0-9a-f]{8}: model/g)?.length ?? 0;
      const asked = proxy.seen.filter((r) => r.method === 'POST' && r.url === '/api/task').length;
      await page.getByTestId('start-mining').click();
      // The worker says which task it got; then Stop.
      await expect.poll(async () => (await minerLog(page)).match(/task 0x[0-9a-f]{8}: model/g)?.length ?? 0, WAIT).toBe(taskLines + 1);
      expect(proxy.seen.filter((r) => r.method === 'POST' && r.url === '/api/task').length).toBe(asked + 1);
      await page.getByRole('button', { name: 'Stop Mining' }).click();
      await expect.poll(() => abandonedAt().length, WAIT).toBe(round);
      const taskId = abandonedAt().at(-1)!;
      tasks.push(taskId);
      await expect.poll(() => taskState(taskId), WAIT).toBe('abandoned');
      await page
        .getByTestId('mining-log')
        .getByText(`task ${taskId.slice(0, 10)} abandoned`)
        .waitFor({ state: 'attached' });
    }
    expect(new Set(tasks).size).toBe(5);
    expect(await minerLog(page)).not.toMatch(/enough open tasks/);
    await page.getByText(/^Log \(/).click();
    await shot(page, '13-mining-stop-abandons');

    // While the node is unreachable the miner retries; Stop ends that at once (the worker is terminated).
    proxy.faults.push({ method: 'POST', path: /^\/api\/task$/, kind: 503, times: 1_000 });
    const [worker] = await Promise.all([page.waitForEvent('worker'), page.getByTestId('start-mining').click()]);
    await page
      .getByTestId('mining-log')
      .getByText(/on task; retry 2 in/)
      .waitFor({ state: 'attached' });
    const closed = new Promise((resolve) => worker.once('close', resolve));
    await page.getByRole('button', { name: 'Stop Mining' }).click();
    await closed;
    expect(await minerLog(page)).toMatch(/retry 2 in [\d.]+ s\n(.*retry \d+ in [\d.]+ s\n)*.* stopped$/);
    proxy.faults.pop();
    expect(problems).toEqual([]);
  }, 180_000);
});
