/** The start the browser-mining e2e tests share: a fresh account in the wallet at `origin`, its mining panel open. */
import type { Page } from 'playwright-core';

export async function registerAndOpenMining(page: Page, origin: string, username: string): Promise<void> {
  await page.goto(`${origin}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill('miner password 1');
  await page.getByLabel('Repeat the password').fill('miner password 1');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByLabel('I have saved my recovery key somewhere safe').check();
  await page.getByRole('button', { name: 'Continue to my wallet' }).click();
  await page.getByRole('link', { name: 'Dashboard' }).click();
  await page.getByTestId('mining').waitFor();
}
