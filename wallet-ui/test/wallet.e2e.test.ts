/**
 * The wallet UI end to end, in Debian's Chromium through playwright-core, against a real node on loopback:
 * register, download the recovery key, get funded, send ALC to a second account, see it in both histories, read
 * the receive QR back, log out, recover with the key, and see the used key refused. Screenshots of every page go
 * to $AILO_SCREENSHOTS (default: a folder in the OS temp dir).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsQRImport from 'jsqr';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import { toChecksumAddress } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import { testKey, wallet } from '../../chain/test/fixtures.js';
import { ALC } from '../../chain/spec.js';
import type { AiloNode } from '../../node/node.js';
import { alice, CHAIN_ID, post, signedTransfer, startTestNode, testNet, type TestNet } from '../../node/test/harness.js';
import { ensureUiBuilt } from '../tools/ui-build.js';
import { CHROMIUM, FLAGS } from './chromium.js';

// jsqr is CommonJS: depending on the loader, its default import is the function or a namespace holding it.
const jsQR = ((jsQRImport as unknown as { default?: unknown }).default ?? jsQRImport) as unknown as typeof jsQRImport.default;

const SHOTS = process.env.AILO_SCREENSHOTS ?? join(tmpdir(), 'ailo-wallet-ui-screens');
const WAIT = { timeout: 30_000 };

describe.skipIf(!existsSync(CHROMIUM))('wallet UI in Chromium', () => {
  let net: TestNet;
  let node: AiloNode;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    await ensureUiBuilt(() => {});
    mkdirSync(SHOTS, { recursive: true });
    net = testNet();
    node = await startTestNode(net);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    net?.remove();
    console.log(`wallet UI screenshots: ${SHOTS}`);
  });

  async function newPage(viewport = { width: 1280, height: 860 }): Promise<Page> {
    const context = await browser.newContext({ viewport, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: node.url });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT.timeout);
    // A CSP violation or an uncaught error anywhere fails the test at the end.
    page.on('console', (m) => {
      // The browser logs every 4xx; the wrong password and used key below are meant to get their 401.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    return page;
  }

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  async function register(page: Page, username: string, password: string): Promise<{ recoveryKey: string; file?: string }> {
    await page.goto(`${node.url}/register`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Repeat the password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    const key = await page.getByTestId('recovery-key').textContent(WAIT);
    return { recoveryKey: key!.trim() };
  }

  async function addressOf(page: Page): Promise<string> {
    await page.getByRole('link', { name: 'Receive', exact: true }).first().click();
    return (await page.getByTestId('address').textContent())!.trim();
  }

  const balanceIs = (page: Page, alc: string) =>
    page
      .getByTestId('balance')
      .filter({ hasText: new RegExp(`^${alc.replace('.', '\\.')}ALC$`) })
      .waitFor();

  it('registers, sends, receives, shows history and QR, and recovers with a one-time key', async () => {
    const a = await newPage();
    await a.goto(node.url);
    await a.waitForURL(/\/login$/);
    await a.getByRole('heading', { name: 'Log in' }).waitFor();
    await shot(a, '01-login');

    // The register form explains what is wrong before anything is derived or sent.
    await a.getByRole('link', { name: 'Create an account' }).click();
    await a.getByLabel('Username').fill('x');
    await a.getByRole('button', { name: 'Create account' }).click();
    await a.getByText('A username is 3 to 32').waitFor();
    await a.getByText('Use at least 8 characters').waitFor();
    await shot(a, '02-register-problems');

    const passwordA = 'alice password 1';
    const { recoveryKey } = await register(a, 'alice-e2e', passwordA);
    expect(recoveryKey).toMatch(/^([0-9A-Z]{4}-){8}[0-9A-Z]{4}$/);
    await shot(a, '03-recovery-key');
    const [download] = await Promise.all([a.waitForEvent('download'), a.getByRole('button', { name: 'Download as .txt' }).click()]);
    expect(download.suggestedFilename()).toBe('ailo-recovery-key-alice-e2e.txt');
    const file = readFileSync((await download.path())!, 'utf8');
    expect(file).toContain('Username:      alice-e2e');
    const keyInFile = /Recovery key:\s+(\S+)/.exec(file)![1]!;
    expect(keyInFile).toBe(recoveryKey);
    expect(keyInFile.replace(/-/g, '')).toHaveLength(36);
    const continueButton = a.getByRole('button', { name: 'Continue to my wallet' });
    expect(await continueButton.isDisabled()).toBe(true);
    await a.getByLabel('I have saved my recovery key somewhere safe').check();
    await continueButton.click();
    await a.waitForURL(/\/wallet$/);
    await balanceIs(a, '0');
    await shot(a, '04-wallet-empty');

    // Receive: the QR, read back from pixels, is the EIP-681 URI of the address shown.
    const addressA = await addressOf(a);
    expect(addressA).toBe(toChecksumAddress(addressA));
    await a.getByTestId('qr').waitFor();
    await shot(a, '05-receive');
    const png = PNG.sync.read(await a.getByTestId('qr').screenshot());
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    expect(decoded?.data).toBe(`ethereum:${addressA}@${CHAIN_ID}`);
    // Asking for an amount puts EIP-681's value (base units) into the URI and the QR (issue 17).
    await a.getByTestId('ask-amount').fill('2.5');
    await a.getByTestId('uri').filter({ hasText: '?value=' }).waitFor();
    expect(await a.getByTestId('uri').textContent()).toBe(`ethereum:${addressA}@${CHAIN_ID}?value=2500000000000000000`);
    await a.getByTestId('ask-amount').fill('12,001');
    await a.getByText(/ambiguous/).waitFor();
    await a.getByTestId('ask-amount').fill('');
    await a.getByRole('button', { name: 'Copy address' }).click();
    expect(await a.evaluate(() => navigator.clipboard.readText())).toBe(addressA);

    // Fund Alice's new wallet from the harness's funded key; the balance updates without a reload.
    const funding = await post(
      `${node.url}/api/ledger/transfer`,
      await signedTransfer(102, addressA.toLowerCase() as never, 100n * ALC, 0n, net.network),
    );
    expect(funding.status).toBe(202);
    await a.getByRole('link', { name: 'Wallet', exact: true }).click();
    await balanceIs(a, '100');

    const b = await newPage();
    await register(b, 'bob-e2e', 'bob password 22');
    await b.getByLabel('I have saved my recovery key somewhere safe').check();
    await b.getByRole('button', { name: 'Continue to my wallet' }).click();
    const addressB = await addressOf(b);

    // Send: a mistyped checksum is caught, then a preview, then the signed transfer.
    await a.getByRole('link', { name: 'Send', exact: true }).first().click();
    const flipped =
      addressB.slice(0, 2) +
      [...addressB.slice(2)]
        .map((c, i) => (i === addressB.slice(2).search(/[a-f]/i) ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c))
        .join('');
    await a.getByLabel('Recipient address').fill(flipped);
    await a.getByLabel('Amount').fill('12.5');
    await a.getByRole('button', { name: 'Review transfer' }).click();
    await a.getByText("do not match this address's EIP-55 checksum").waitFor();
    await shot(a, '06-send-bad-checksum');
    await a.getByLabel('Recipient address').fill(addressB);
    await a.getByText('Valid address with checksum').waitFor();
    // A lone comma is ambiguous (twelve thousand and one, or 12.001): refused with both readings, nothing sent (issue 17).
    await a.getByLabel('Amount').fill('12,001');
    await a.getByRole('button', { name: 'Review transfer' }).click();
    await a.getByText(/"12,001" is ambiguous.*write 12001 or 12\.001/).waitFor();
    expect(await a.getByTestId('preview-amount').count()).toBe(0);
    await a.getByLabel('Amount').fill('12.5');
    await shot(a, '07-send-form');
    await a.getByRole('button', { name: 'Review transfer' }).click();
    expect(await a.getByTestId('preview-amount').textContent()).toBe('12.5 ALC');
    expect(await a.getByTestId('preview-after').textContent()).toBe('87.5 ALC');
    await shot(a, '08-send-preview');
    await a.getByRole('button', { name: 'Sign and send' }).click();
    const sentText = (await a.getByTestId('sent').textContent())!;
    const hash = /0x[0-9a-f]{64}/.exec(sentText)![0];
    // The banner follows the transfer: it does not keep saying "pending" once the transfer is final (issue 17).
    await a
      .getByTestId('sent-status')
      .filter({ hasText: /final \(block \d+\)/ })
      .waitFor();
    await shot(a, '09-send-done');

    // Both histories show it once a block includes it; both balances follow.
    await a.getByRole('link', { name: 'Wallet', exact: true }).click();
    await a.locator(`li[data-hash="${hash}"]:not([data-status="pending"])`).waitFor();
    expect(await a.locator(`li[data-hash="${hash}"]`).textContent()).toMatch(/Sent.*−12\.5 ALC.*(in block|final)/s);
    // Each row opens to its detail: the hash, the block, the full counterparty address (issue 17).
    await a.locator(`li[data-hash="${hash}"] summary`).click();
    const detail = (await a.locator(`li[data-hash="${hash}"] [data-testid="tx-detail"]`).textContent())!;
    expect(detail).toContain(hash);
    expect(detail).toMatch(/block \d+/);
    expect(detail).toContain(addressB);
    await balanceIs(a, '87.5');
    await shot(a, '10-wallet-history-sender');
    await b.getByRole('link', { name: 'Wallet', exact: true }).click();
    await b.locator(`li[data-hash="${hash}"]`).waitFor();
    expect(await b.locator(`li[data-hash="${hash}"]`).textContent()).toMatch(/Received.*\+12\.5 ALC/s);
    await balanceIs(b, '12.5');
    await shot(b, '11-wallet-history-receiver');
    await b.setViewportSize({ width: 390, height: 844 });
    const pageWidth = (): Promise<number> => b.evaluate(() => document.documentElement.scrollWidth);
    await b.locator(`li[data-hash="${hash}"] summary`).click();
    await b.locator(`li[data-hash="${hash}"] [data-testid="tx-detail"][open]`).waitFor();
    expect(await pageWidth(), 'wallet at 390 px with a transaction detail open').toBeLessThanOrEqual(390);
    await shot(b, '12-wallet-mobile');
    await b.getByRole('link', { name: 'Receive', exact: true }).first().click();
    await b.getByTestId('qr').waitFor();
    expect(await pageWidth(), 'receive page at 390 px').toBeLessThanOrEqual(390);
    await shot(b, '12-receive-mobile');
    await b.getByRole('link', { name: 'Send', exact: true }).first().click();
    await b.getByLabel('Amount').waitFor();
    expect(await pageWidth(), 'send page at 390 px').toBeLessThanOrEqual(390);

    await a.getByRole('link', { name: 'Dashboard' }).click();
    await a.getByTestId('figures').waitFor();
    // The network's actual model, not "training AILO-1B" beside a 3.3 M-parameter devnet model (issue 17).
    expect(await a.getByTestId('model').textContent()).toMatch(/^ailo-tiny .*parameters; a small configuration/);
    // What "Active" means is said beside it: here blocks were made a moment ago and no miner trains.
    expect(await a.getByTestId('network-meaning').textContent()).toBe('a block in the last 5 minutes; no miner is training now');
    expect(await a.locator('p.lead').first().textContent()).toMatch(/trains ailo-tiny together \(a small configuration, not AILO-1B\)/);
    await a.getByTestId('earnings').getByText('Total from training').waitFor();
    await shot(a, '13-dashboard');
    await a.getByRole('link', { name: 'Settings' }).click();
    await a.getByRole('heading', { name: 'Export private key' }).waitFor();
    await shot(a, '14-settings');

    // Log out, then recover with the downloaded key: same wallet, a new key, and the old one refused.
    await a.getByRole('button', { name: 'Log out' }).click();
    await a.waitForURL(/\/login$/);
    await a.getByText('You are logged out').waitFor();
    await shot(a, '15-logged-out');
    await a.getByRole('link', { name: 'Forgot password?' }).click();
    const recover = async (key: string, password: string): Promise<void> => {
      await a.getByLabel('Username').fill('alice-e2e');
      await a.getByLabel('Recovery key', { exact: true }).fill(key.toLowerCase());
      await a.getByLabel('New password', { exact: true }).fill(password);
      await a.getByLabel('Repeat the new password').fill(password);
      await a.getByRole('button', { name: 'Set new password' }).click();
    };
    await recover(keyInFile, 'alice password 2');
    const newKey = (await a.getByTestId('recovery-key').textContent())!.trim();
    expect(newKey).not.toBe(recoveryKey);
    await shot(a, '16-recovered-new-key');
    await a.getByLabel('I have saved my recovery key somewhere safe').check();
    await a.getByRole('button', { name: 'Continue to my wallet' }).click();
    await balanceIs(a, '87.5');
    expect(await a.getByText(addressA).count()).toBeGreaterThan(0);

    await a.getByRole('button', { name: 'Log out' }).click();
    await a.getByRole('link', { name: 'Forgot password?' }).click();
    await recover(keyInFile, 'alice password 3');
    await a.getByRole('alert').filter({ hasText: 'already used' }).waitFor();
    await shot(a, '17-recover-used-key-refused');

    // The old password no longer opens the account; the new one does.
    await a.getByRole('link', { name: 'Back to log in' }).click();
    await a.getByLabel('Username').fill('alice-e2e');
    await a.getByLabel('Password').fill(passwordA);
    await a.getByRole('button', { name: 'Log in' }).click();
    await a.getByText('Wrong username or password.').waitFor();
    await a.getByLabel('Password').fill('alice password 2');
    await a.getByLabel('Password').press('Enter');
    await a.waitForURL(/\/wallet$/);
    await balanceIs(a, '87.5');

    expect(problems).toEqual([]);
  }, 120_000);

  it('imports a private key, keeps the session over a reload (locked key), and signs with an EIP-1193 browser wallet', async () => {
    const page = await newPage();
    // A stand-in for MetaMask: window.ethereum whose signatures come from Alice's key, held by the test.
    const aliceWallet = new Wallet(toHex(testKey(102)));
    await page.exposeFunction('__ailoTestSign', async (json: string) => {
      const typed = JSON.parse(json) as {
        domain: Record<string, unknown>;
        types: Record<string, { name: string; type: string }[]>;
        message: Record<string, unknown>;
      };
      const { EIP712Domain: _, ...types } = typed.types;
      return aliceWallet.signTypedData(typed.domain, types, typed.message);
    });
    await page.addInitScript((account) => {
      const w = window as unknown as { ethereum: unknown; __ailoTestSign: (json: string) => Promise<string> };
      w.ethereum = {
        request: async ({ method, params }: { method: string; params?: unknown[] }) => {
          if (method === 'eth_requestAccounts') return [account];
          if (method === 'eth_signTypedData_v4') return w.__ailoTestSign(params![1] as string);
          throw new Error(`unsupported ${method}`);
        },
      };
    }, toChecksumAddress(alice.address));

    const carol = wallet(104);
    await page.goto(`${node.url}/register`);
    await page.getByLabel('Username').fill('carol-import');
    await page.getByLabel('Password', { exact: true }).fill('carol password');
    await page.getByLabel('Repeat the password').fill('carol password');
    await page.getByLabel('I already have a private key and want to use it').check();
    await page.getByLabel('Private key', { exact: true }).fill('0x12');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('A private key is 64 hex digits').waitFor();
    await page.getByLabel('Private key', { exact: true }).fill(toHex(carol.key).slice(2));
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByTestId('recovery-key').waitFor();
    await page.getByLabel('I have saved my recovery key somewhere safe').check();
    await page.getByRole('button', { name: 'Continue to my wallet' }).click();
    const address = await addressOf(page);
    expect(address).toBe(toChecksumAddress(carol.address));

    // Sign with the browser wallet: the transfer comes from Alice's address, here to this account.
    await page.getByRole('link', { name: 'Send', exact: true }).first().click();
    await page.getByLabel('My browser wallet').check();
    await page.getByLabel('Recipient address').fill(address);
    await page.getByLabel('Amount').fill('2.000000000000000001');
    await page.getByRole('button', { name: 'Review transfer' }).click();
    expect(await page.getByTestId('preview-amount').textContent()).toBe('2.000000000000000001 ALC');
    await page.getByRole('button', { name: 'Sign and send' }).click();
    const hash = /0x[0-9a-f]{64}/.exec((await page.getByTestId('sent').textContent())!)![0];
    const tx = await (await fetch(`${node.url}/api/ledger/tx/${hash}`)).json();
    expect(tx.tx).toMatchObject({ from: toChecksumAddress(alice.address), to: address, amount: (2n * ALC + 1n).toString() });
    await page.getByRole('link', { name: 'Wallet', exact: true }).click();
    await balanceIs(page, '2.000000000000000001');

    // After a reload the session is still there, but the key must be unlocked with the password to sign.
    await page.reload();
    await balanceIs(page, '2.000000000000000001');
    await page.getByRole('link', { name: 'Send', exact: true }).first().click();
    await page.getByLabel("This account's key").check();
    await page.getByLabel('Recipient address').fill(toChecksumAddress(wallet(105).address));
    await page.getByLabel('Amount').fill('3');
    await page.getByRole('button', { name: 'Review transfer' }).click();
    await page.getByText('That is more than the balance of 2.000000000000000001 ALC.').waitFor();
    await page.getByLabel('Amount').fill('1');
    await page.getByRole('button', { name: 'Review transfer' }).click();
    await page.getByText('Enter your password to unlock it').waitFor();
    expect(await page.getByRole('button', { name: 'Sign and send' }).count()).toBe(0);
    await shot(page, '18-send-locked-after-reload');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Unlock and send' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong password.' }).waitFor();
    await page.getByLabel('Password').fill('carol password');
    await page.getByRole('button', { name: 'Unlock and send' }).click();
    const second = /0x[0-9a-f]{64}/.exec((await page.getByTestId('sent').textContent())!)![0];
    expect((await (await fetch(`${node.url}/api/ledger/tx/${second}`)).json()).tx).toMatchObject({ from: address, amount: ALC.toString() });

    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Password').first().waitFor();
    const exportCard = page.locator('ailo-export-key-form');
    await exportCard.getByLabel('Password').fill('carol password');
    await exportCard.getByRole('button', { name: 'Show private key' }).click();
    expect(await page.getByTestId('private-key').textContent()).toBe(toHex(carol.key));
    await shot(page, '19-settings-export');
    expect(problems).toEqual([]);
  }, 60_000);
});
