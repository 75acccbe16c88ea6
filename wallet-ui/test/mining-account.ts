/** The start the browser-mining e2e tests share: a fresh account in the wallet at `origin`, its mining panel open. */
import type { Browser, BrowserContext, Page } from 'playwright-core';

export const MINER_PASSWORD = 'miner password 1';

export async function registerAndOpenMining(page: Page, origin: string, username: string): Promise<void> {
  await page.goto(`${origin}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(MINER_PASSWORD);
  await page.getByLabel('Repeat the password').fill(MINER_PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByLabel('I have saved my recovery key somewhere safe').check();
  await page.getByRole('button', { name: 'Continue to my wallet' }).click();
  await page.getByRole('link', { name: 'Dashboard' }).click();
  await page.getByTestId('mining').waitFor();
}

/**
 * Start Mining after a reload: the session survives but the wallet key, which signs the task requests, does not; the
 * panel asks for the password, which unlocks the key and starts mining.
 */
export async function unlockAndStartMining(page: Page): Promise<void> {
  await page.getByTestId('start-mining').click();
  const form = page.getByTestId('mining-unlock');
  await form.getByLabel('Password').fill(MINER_PASSWORD);
  await form.getByRole('button', { name: 'Unlock and start mining' }).click();
}

/**
 * A page in a fresh context (its own IndexedDB) whose console errors and page errors go to `problems`, except console
 * errors matching `allowed` (a node the test stops on purpose: the dashboard's polls then find nobody there).
 */
export async function watchedPage(
  browser: Browser,
  problems: string[],
  allowed = /ERR_CONNECTION_REFUSED/,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  page.on('console', (m) => {
    if (m.type() === 'error' && !allowed.test(m.text())) problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { context, page };
}
