/**
 * The miner's GUI end to end: `ailo-miner` as a real process (GUI on, browser not opened) against a real node on
 * loopback with federation on (ailo-tiny, small tasks), its page in Debian's Chromium through playwright-core. The
 * dashboard shows the running miner and its accepted, paid submission; the settings page changes the running
 * miner's power and device without a restart (the miner's own log, status and step records say so, and its next
 * task trains on the GPU it was switched to); the log exports as a file; Ctrl-C still ends it cleanly. The hardware
 * notice shows until acknowledged once; on a GPU the dashboard shows what nvidia-smi reports of it (this machine has no
 * NVIDIA GPU: an `nvidia-smi` on the miner's PATH prints one reading in nvidia-smi's CSV form, as an RTX 3060 would).
 * Screenshots go to $AILO_SCREENSHOTS (default: in the OS temp dir).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress, toChecksumAddress } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import { wallet } from '../../chain/test/fixtures.js';
import type { MinerStateView } from '../../trainer/miner/status.js';
import { AiloNode } from '../../node/node.js';
import { testNet, waitFor, type TestNet } from '../../node/test/harness.js';
import { ensureUiBuilt } from '../tools/ui-build.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = process.env.AILO_SCREENSHOTS ?? join(tmpdir(), 'ailo-miner-gui-screens');
const WAIT = { timeout: 90_000 };
const MINER = toChecksumAddress(wallet(411).address);

describe.skipIf(!existsSync(CHROMIUM))('the miner GUI in Chromium', () => {
  let net: TestNet;
  let node: AiloNode;
  let browser: Browser;
  let page: Page;
  let miner: ChildProcess;
  let output = '';
  let gui: string;
  let cache: string;
  const problems: string[] = [];

  const state = async (): Promise<MinerStateView> => (await (await fetch(`${gui}api/miner/state`)).json()) as MinerStateView;
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const go = async (name: string): Promise<void> => {
    await page.getByRole('link', { name, exact: true }).click();
    await page.locator('main h1').filter({ hasText: name }).waitFor();
  };

  beforeAll(async () => {
    await ensureUiBuilt(() => {});
    mkdirSync(SHOTS, { recursive: true });
    cache = mkdtempSync(join(tmpdir(), 'ailo-miner-gui-cache-'));
    // nvidia-smi as the miner asks it (--query-gpu=...,--format=csv,noheader,nounits), for a GPU this machine lacks.
    const bin = join(cache, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\necho "0, NVIDIA GeForce RTX 3060, 67, 170.42, 5012, 12288"\n', { mode: 0o755 });
    net = testNet(50);
    node = await AiloNode.start({
      data: join(net.root, 'data'),
      host: '127.0.0.1',
      port: 0,
      genesisFile: net.genesisPath,
      coordinatorKeyFile: net.keyPath,
      log: () => {},
      federation: { batchSize: 4, seqLen: 32, steps: 8, lr: 3e-3, roundSize: 100, roundMs: 600_000, tasksPerWallet: 16 },
    });
    // The key that signs the miner's task requests, from the environment (--key-file is the other way).
    miner = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'node/ailo-miner/cli.ts',
        '--wallet',
        MINER,
        '--node',
        node.url,
        '--cpu',
        '--power',
        '90',
        '--gui-port',
        '0',
        '--no-open',
        '--cache',
        cache,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, AILO_MINER_KEY: toHex(wallet(411).key), PATH: `${join(cache, 'bin')}:${process.env.PATH}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    miner.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    miner.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    gui = await waitFor('the miner GUI URL', async () => /miner GUI: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)?.[1], 120_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--no-first-run'],
      headless: true,
    });
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT.timeout);
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  }, 180_000);
  afterAll(async () => {
    if (miner && miner.exitCode === null) miner.kill('SIGKILL');
    await browser?.close();
    await node?.stop();
    net?.remove();
    if (cache) rmSync(cache, { recursive: true, force: true });
    console.log(`miner GUI screenshots: ${SHOTS}`);
  });

  it('shows the running miner and its accepted, paid submission on the dashboard', async () => {
    await page.goto(gui);
    await page.getByTestId('device').filter({ hasText: 'CPU' }).waitFor();
    // The hardware notice, until it is acknowledged once in this browser.
    await page.getByTestId('hardware-notice').waitFor();
    expect(await page.getByTestId('hardware-notice').textContent()).toMatch(/at your own risk/);
    await shot('00-hardware-notice');
    await page.getByTestId('hardware-notice-ok').click();
    await page.getByTestId('hardware-notice').waitFor({ state: 'detached' });
    await page.reload();
    await page.getByTestId('device').filter({ hasText: 'CPU' }).waitFor();
    expect(await page.getByTestId('hardware-notice').count()).toBe(0);
    // On the CPU there is no GPU reading to show.
    expect(await page.getByTestId('gpu-health').count()).toBe(0);
    // The first task's outcome: the dashboard counts it, and the reward is the node's.
    await page.getByTestId('accepted').filter({ hasNotText: /^0$/ }).waitFor();
    expect(await page.getByTestId('rejected').textContent()).toBe('0');
    // One accepted task earns 0.1 ALC x quality (1x-10x): more than nothing, often under 1 ALC.
    expect(await page.getByTestId('earned').textContent()).toMatch(/^(?!0 ALC$)(0\.\d*[1-9]|[1-9])[\d.,]* ALC$/);
    expect(Number(await page.getByTestId('loss').textContent())).toBeGreaterThan(0);
    // The header's figure is this session's earnings, and says so (issue 17: it read like a balance).
    expect(await page.getByTestId('session-earned').textContent()).toMatch(/ALC\s+this session$/);
    await waitFor('the reward on the ledger', async () => node.ledger.account(parseAddress(MINER)).balance > 0n || undefined, 30_000);
    await page
      .getByTestId('confirmed')
      .filter({ hasText: /^[1-9]\d* \/ / })
      .waitFor();
    expect(await page.getByTestId('submissions').textContent()).toMatch(/confirmed/);
    await shot('01-dashboard');
  });

  it('changes the running miner: power at once, the GPU from its next task, no restart', async () => {
    const pid = miner.pid;
    const before = await state();
    expect(before.settings).toMatchObject({ power: 90, useCpu: true });
    expect(
      before.gpus.map((g) => g.id),
      'this machine has WebGPU (lavapipe, see RUNTIME.md)',
    ).toContain('webgpu');
    await go('Settings');
    await shot('02-settings-before');

    await page.getByTestId('power').fill('20');
    await page.getByTestId('saved').waitFor();
    const afterPower = await state();
    expect(afterPower.status.power).toBe(20);
    expect(afterPower.settings.power).toBe(20);
    // The miner's next step rests at the new power: its step record says so.
    await waitFor('a step at 20% power', async () => (await state()).history!.some((p) => p.power === 20) || undefined, WAIT.timeout);

    await page.getByTestId('gpu').selectOption('webgpu');
    await page.getByTestId('use-cpu').uncheck();
    await page
      .getByTestId('device-now')
      .filter({ hasText: /WebGPU .* from the next task|Training on WebGPU/ })
      .waitFor();
    await shot('03-settings-after');
    await page.getByTestId('power').fill('90');
    await page.getByTestId('power-value').filter({ hasText: '90%' }).waitFor();

    // The next task trains on WebGPU, in the same process.
    const accepted = (await state()).totals.accepted;
    await waitFor('a step on WebGPU', async () => (await state()).history!.some((p) => p.device === 'webgpu') || undefined, WAIT.timeout);
    await waitFor('a WebGPU task accepted', async () => (await state()).totals.accepted > accepted || undefined, WAIT.timeout);
    const after = await state();
    expect(after.status.device).toBe('webgpu');
    expect(after.settings).toMatchObject({ useCpu: false, gpu: 'webgpu', power: 90, pending: false });
    expect(miner.pid).toBe(pid);
    expect(miner.exitCode).toBeNull();
    expect(output).toMatch(/power set to 20%/);
    expect(output).toMatch(/device set to webgpu/);
    expect(output).toMatch(/training on webgpu from task/);

    await go('Dashboard');
    await page.getByTestId('device').filter({ hasText: 'WebGPU' }).waitFor();
    // On the GPU, the dashboard shows its temperature, power draw and memory as nvidia-smi reports them.
    await page.getByTestId('gpu-health').filter({ hasText: '67 C, 170 W, 4.9 / 12.0 GiB' }).waitFor();
    expect((await state()).status.gpu).toMatchObject({ name: 'NVIDIA GeForce RTX 3060', temperatureC: 67, powerW: 170.42 });
    await shot('04-dashboard-webgpu');
  });

  it('draws the loss and hashrate history, and exports the log as a file', async () => {
    await go('History');
    await page.getByTestId('history-charts').locator('ailo-line-chart').first().waitFor();
    expect(await page.getByTestId('history-charts').locator('ailo-line-chart').count()).toBe(2);
    await shot('05-history');

    await go('Logs');
    await page.getByTestId('log').getByText('power set to 20%').waitFor();
    await shot('06-logs');
    const download = page.waitForEvent('download');
    await page.getByTestId('export-text').click();
    const file = await (await download).path();
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info  ailo-miner: wallet /);
    expect(text).toMatch(/info  power set to 20%/);
    expect(text).toMatch(/info  training on webgpu from task/);

    await go('About');
    expect(await page.getByTestId('wallet').textContent()).toBe(MINER);
    expect(await page.getByTestId('node').textContent()).toBe(node.url);
    await shot('07-about');
    expect(problems).toEqual([]);
  });

  it('still ends cleanly on Ctrl-C, with the summary and the GUI closed', async () => {
    const exit = new Promise<number | null>((resolve) => miner.once('exit', (code) => resolve(code)));
    miner.kill('SIGINT');
    expect(await exit, output.slice(-2000)).toBe(0);
    expect(output).toMatch(/summary: \d+ tasks/);
    expect(output).toMatch(/ledger: (\d+) of \1 contributions confirmed/);
    await expect(fetch(`${gui}api/miner/state`)).rejects.toThrow();
  });
});
