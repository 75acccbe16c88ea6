/** The start the browser-mining e2e tests share: a fresh account in the wallet at `origin`, its mining panel open. */
import type { Page } from 'playwright-core';

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
