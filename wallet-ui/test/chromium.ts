/** Debian's Chromium, as the browser end-to-end tests launch it through playwright-core (see RUNTIME.md). */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, no GPU, no background traffic: the flags of every test that does not need WebGPU. */
export const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
