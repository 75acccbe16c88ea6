/**
 * The browser miner finds a live coordinator by itself (issue 13), in Debian's Chromium against two real
 * coordinators on loopback (ailo-tiny, small tasks, federation on both): the page is loaded from coordinator A, mines
 * a task there and has it accepted; A is stopped; the miner, still running in the page whose node is gone, goes on
 * with coordinator B (which it learned from A's GET /api/round), gets a task from B, and B accepts and signs its
 * submission. That takes the page's policy listing the coordinators (connect-src) and B answering other origins
 * (CORS) on the miner's routes; without either, the browser refuses the calls and mining stops. Screenshots go to
 * $AILO_SCREENSHOTS (default: in the OS temp dir).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALC } from '../../chain/spec.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { ContributionTx } from '../../chain/tx/types.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis } from '../../genesis/genesis.js';
import { toHex } from '../../protocol/bytes.js';
import type { AiloNode } from '../../node/node.js';
import { networkOfGenesis, startTestNode, waitFor, type TestNet } from '../../node/test/harness.js';
import { freePort } from '../../node/test/process.js';
import { ensureUiBuilt } from '../tools/ui-build.js';
import { registerAndOpenMining, watchedPage } from './mining-account.js';
import { CHROMIUM, FLAGS } from './chromium.js';

const SHOTS = process.env.AILO_SCREENSHOTS ?? join(tmpdir(), 'ailo-mining-screens');
const FEDERATION = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
const [A, B] = [wallet(701), wallet(702)];

describe.skipIf(!existsSync(CHROMIUM))('the browser miner when its node stops', () => {
  const root = mkdtempSync(join(tmpdir(), 'ailo-failover-'));
  const genesisText = formatGenesis(
    genesisFor({
      name: 'ailo-failover',
      chainId: 792n,
      coordinators: [A.address, B.address],
      alloc: new Map([[A.address, 1n * ALC]]),
      blockPeriodMs: 100,
      outOfTurnDelayMs: 100,
      timestamp: 1_700_000_000_000n,
      model: 'ailo-tiny',
    }),
  );
  const genesisPath = join(root, 'genesis.json');
  writeFileSync(genesisPath, genesisText);
  const net = (who: typeof A, name: string): TestNet => {
    const keyPath = join(root, `${name}.key`);
    writeFileSync(keyPath, toHex(who.key));
    return { root, genesisPath, keyPath, network: networkOfGenesis(genesisText), remove: () => undefined };
  };
  let a: AiloNode | undefined;
  let b: AiloNode;
  let browser: Browser;
  const problems: string[] = [];
  /** The contributions each coordinator signed (it submits each to its own pool), in order. */
  const signed: ContributionTx[] = [];
  const signedFor = (miner: string): ContributionTx[] => signed.filter((c) => c.miner.toLowerCase() === miner.toLowerCase());

  beforeAll(async () => {
    await ensureUiBuilt(() => {});
    mkdirSync(SHOTS, { recursive: true });
    // Each operator names the other as a peer, as the README's multi-coordinator set-up does.
    const [pa, pb] = [await freePort(), await freePort()];
    const url = (port: number): string => `http://127.0.0.1:${port}`;
    a = await startTestNode(net(A, 'a'), join(root, 'a'), { federation: FEDERATION, port: pa, peers: [url(pb)] });
    b = await startTestNode(net(B, 'b'), join(root, 'b'), { federation: FEDERATION, port: pb, peers: [url(pa)] });
    for (const [node, by] of [
      [a, A.address],
      [b, B.address],
    ] as const)
      node.ledger.onAdded((t) => {
        if (t.tx.type === 'contribution' && t.tx.coordinator === by) signed.push(t.tx);
      });
    // A knows where B is (B's handshake proved its id) and counts it live: A's page may then call B.
    await waitFor(
      'A to hear from B',
      async () => (a!.network.peers.urlOf(B.address) && a!.network.peers.heardFrom(B.address, 5_000)) || undefined,
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await b?.stop();
    await a?.stop();
    rmSync(root, { recursive: true, force: true });
    console.log(`browser mining screenshots: ${SHOTS}`);
  });

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** The miner's panel and its log, to make a failure readable. */
  const panel = async (page: Page): Promise<string> =>
    `${(await page.getByTestId('mining').innerText()).replace(/\s+/g, ' ')}\nthe log:\n${await page
      .getByTestId('mining-log')
      .evaluate((e) => e.textContent)
      .catch(() => '')}`;
  it('goes on with another coordinator, which the page may call, and has its work accepted there', async () => {
    const csp = (await fetch(`${a!.url}/`)).headers.get('content-security-policy')!;
    expect(csp).toContain(`connect-src 'self' ${new URL(a!.url).origin} ${new URL(b.url).origin}`);

    // The node stopped on purpose leaves the dashboard's polls of it unanswered (ERR_CONNECTION_REFUSED, allowed).
    const { context, page } = await watchedPage(browser, problems);
    await registerAndOpenMining(page, a!.url, 'failover-miner');
    await page.getByRole('link', { name: 'Receive', exact: true }).first().click();
    const address = (await page.getByTestId('address').textContent())!.trim();
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByTestId('backend').selectOption('wasm');
    await page.getByTestId('power').fill('100');
    await page.getByTestId('start-mining').click();

    const outcomes = page.getByTestId('outcomes').locator('li');
    const problem = page.getByTestId('mining-problem');
    const until = async (what: string, done: () => Promise<boolean>): Promise<void> => {
      try {
        // A submission in flight to A waits out the client's retries (about a minute) before the miner moves on.
        await waitFor(what, async () => ((await problem.isVisible()) ? true : (await done()) || undefined), 150_000);
      } catch (err) {
        await shot(page, 'failover-timeout');
        throw new Error(`${(err as Error).message}\nthe miner's panel: ${await panel(page)}`);
      }
      if (await problem.isVisible()) throw new Error(`mining stopped: ${await problem.textContent()}\n${await panel(page)}`);
    };
    await until('a first accepted task, on A', async () => (await outcomes.count()) >= 1);
    expect(await outcomes.first().textContent()).toMatch(/accepted, quality [\d.]+x/);
    expect(signedFor(address).map((c) => c.coordinator)).toEqual([A.address]);

    await a!.stop();
    a = undefined;
    await until('a task accepted by B', async () => signedFor(address).some((c) => c.coordinator === B.address));
    const log = await page
      .getByTestId('mining-log')
      .textContent({ timeout: 5_000 })
      .catch(() => '');
    expect(log ?? (await panel(page))).toMatch(new RegExp(`does not answer .*going on with ${b.url.replace(/[.]/g, '\\.')}`));
    await until(
      'the accepted outcome in the page',
      async () => (await outcomes.allTextContents()).filter((t) => /accepted/.test(t)).length >= 2,
    );
    await shot(page, '23-mining-failover-to-another-coordinator');
    await page.getByRole('button', { name: 'Stop Mining' }).click();
    await page.getByTestId('start-mining').waitFor();
    await context.close();
    expect(problems).toEqual([]);
  }, 300_000);
});
