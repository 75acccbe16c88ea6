/**
 * Chat and browser-served inference end to end, in Debian's Chromium through playwright-core, against a real
 * coordinator node on loopback (ailo-small: 6 layers, so three browsers hold two each). Every contributor is a page
 * of the wallet whose Chat page serves the model from a Web Worker (onnxruntime-web WASM, weights from IndexedDB);
 * every request is checked by the node's recomputation (checkRate 1).
 * - Without contributors the Chat page says no room can serve, and why.
 * - Three browsers serve two layers each; a fourth chats at temperature 0: the streamed answer equals single-process
 *   greedy generation (what `ailo-trainer generate` does) on the node's weights, and each span holder's balance rises
 *   by exactly the genesis inferenceShare.
 * - A fifth browser waits as a standby; a span holder closes its tab mid-answer: the standby takes its layers, the
 *   answer completes with a notice and still equals greedy generation, and the closed one is not paid for it.
 * - A contributor whose result frames are altered in flight (a proxy between its page and the node) is caught by the
 *   node's check, removed with WRONG_OUTPUT (its page says so), and not paid.
 * Screenshots go to $AILO_SCREENSHOTS (default: in the OS temp dir).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../protocol/address.js';
import { formatAlc } from '../../protocol/amount.js';
import { AiloNode } from '../../node/node.js';
import { alice, startTestNode, testNet, waitFor, waitQuiet, type TestNet } from '../../node/test/harness.js';
import { fund } from '../../node/test/inference.js';
import { ALC } from '../../chain/spec.js';
import { CONFIG_METADATA_KEY, saveWeights } from '../../trainer/weights/safetensors.js';
import { conversationPrompt, type Turn } from '../src/chat/conversation.js';
import { ensureUiBuilt } from '../tools/ui-build.js';
import { alterResultFrame, startAlteringProxy, type AlteringProxy } from './altering-proxy.js';
import { CHROMIUM, FLAGS } from './chromium.js';
import { MINER_PASSWORD, registerAndOpenMining, watchedPage } from './mining-account.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = process.env.AILO_SCREENSHOTS ?? join(tmpdir(), 'ailo-chat-screens');
const FEDERATION = { batchSize: 4, seqLen: 32, steps: 4, lr: 3e-3, roundSize: 100, roundMs: 600_000 };
const FIRST = 'What does the network train?';
const SECOND = 'And who holds its layers?';
const THIRD = 'One more question.';

describe.skipIf(!existsSync(CHROMIUM))('chat and browser-served inference in Chromium', () => {
  let net: TestNet;
  let node: AiloNode;
  let browser: Browser;
  let proxy: AlteringProxy;
  let share: bigint;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  /** The chatting account's page, and each contributor's page and wallet. */
  let chatter: Page;
  let chatterAddress: string;
  const holders: { page: Page; address: string }[] = [];
  /** The conversation as the Chat page keeps it (what each prompt is made of). */
  const turns: Turn[] = [];

  beforeAll(async () => {
    await ensureUiBuilt(() => {});
    mkdirSync(SHOTS, { recursive: true });
    net = testNet(50, { model: 'ailo-small' });
    node = await startTestNode(net, join(net.root, 'data'), {
      federation: FEDERATION,
      inference: { checkRate: 1, roomWaitMs: 500 },
    });
    share = node.ledger.chain.spec.rewards.inferenceShare;
    proxy = await startAlteringProxy(node.url, alterResultFrame);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  }, 120_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await proxy?.close();
    await node?.stop();
    net?.remove();
    console.log(`chat screenshots: ${SHOTS}`);
  });

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const balance = (address: string): bigint => node.ledger.account(parseAddress(address)).balance;

  /** A new account in a fresh browser context, on its Chat page; its wallet address. */
  async function openChat(username: string, origin = node.url, allowed?: RegExp): Promise<{ page: Page; address: string }> {
    const { context, page } = await watchedPage(browser, problems, allowed);
    contexts.push(context);
    await registerAndOpenMining(page, origin, username);
    await page.getByRole('link', { name: 'Chat', exact: true }).click();
    await page.getByTestId('model').waitFor();
    const address = await page.evaluate(
      () => (JSON.parse(sessionStorage.getItem('ailo.session')!) as { account: { address: string } }).account.address,
    );
    return { page, address };
  }

  async function serve(page: Page, layers: number): Promise<void> {
    await page.getByTestId('serve-layers').fill(String(layers));
    await page.getByTestId('serve-toggle').click();
  }

  const status = (page: Page, text: string | RegExp): Promise<void> => page.getByTestId('serve-status').filter({ hasText: text }).waitFor();
  const served = async (page: Page): Promise<number> => Number(await page.getByTestId('serve-served').textContent());

  /** Sends `text` at temperature 0; resolves once the answer is done (or fails with what the page says). */
  async function ask(text: string, maxTokens: number): Promise<string> {
    const sampling = chatter.getByTestId('sampling');
    await sampling.getByLabel('Temperature').fill('0');
    await sampling.getByLabel('Max tokens').fill(String(maxTokens));
    await chatter.getByTestId('chat-input').fill(text);
    await chatter.getByTestId('chat-send').click();
    turns.push({ role: 'user', text, at: 0 });
    return conversationPrompt(turns);
  }

  async function answer(): Promise<string> {
    const last = chatter.getByTestId('answer');
    const problem = last.getByTestId('answer-problem');
    await last.getByTestId('answer-done').or(problem).waitFor();
    if (await problem.isVisible()) throw new Error(`the answer failed: ${await problem.textContent()}`);
    const text = (await last.getByTestId('answer-text').textContent())!;
    turns.push({ role: 'model', text, at: 0, meta: { model: 'ailo', tokens: 0, notices: [], done: true } });
    return text;
  }

  /**
   * Greedy text of single-process generation: `ailo-trainer generate` run as a process on the node's weights (saved
   * as safetensors with their config), as the node streams it (up to an end-of-text token, whole characters only).
   */
  async function greedy(prompt: string, maxTokens: number): Promise<string> {
    const weights = join(net.root, 'node-weights.safetensors');
    if (!existsSync(weights))
      await saveWeights(weights, node.federation!.modelConfig, node.federation!.currentWeights(), {
        [CONFIG_METADATA_KEY]: JSON.stringify(node.federation!.modelConfig),
      });
    const { stdout } = await run(process.execPath, [
      join(ROOT, 'bin', 'ailo-trainer.js'),
      'generate',
      '--weights',
      weights,
      '--prompt',
      prompt,
      '--tokens',
      String(maxTokens),
      '--temperature',
      '0',
      '--top-k',
      '0',
    ]);
    expect(stdout.startsWith(prompt)).toBe(true);
    const full = stdout.slice(prompt.length, -1).split('<|endoftext|>')[0]!;
    return full.endsWith('\uFFFD') ? full.slice(0, full.lastIndexOf('\uFFFD')) : full;
  }

  it('without contributors the Chat page says that no room can serve, why, and that contributors can join', async () => {
    // A chat refused with 503 NO_ROOM is logged by Chromium as a failed resource load on this page.
    let address: string;
    ({ page: chatter, address } = await openChat('chatter', node.url, /ERR_CONNECTION_REFUSED|status of 503/));
    chatterAddress = address;
    // Each answer costs a fee: the chatter receives ALC first (as from mining, or a friend).
    await fund(node.url, net.network, alice, chatterAddress, 10n * ALC);
    await expect.poll(() => chatter.getByTestId('model-config').textContent()).toBe('ailo-small');
    expect(await chatter.getByTestId('model-layers').textContent()).toMatch(/^6 \(width 384\)/);
    expect(await chatter.getByTestId('devnet-notice').textContent()).toMatch(
      /this devnet serves a small test model.*answers are not meaningful text/i,
    );
    expect(await chatter.getByTestId('privacy').textContent()).toMatch(
      /Training sends no raw data\. Chat is different: your messages go to the node,\s+and the hidden states of your conversation pass through the browsers and machines that hold the model's layers\.\s+Those states are not a disguise: whoever holds the first layers can read your words back from them/,
    );
    // The genesis inferenceShare, read by the page from GET /api/chain/genesis.
    expect(share).toBe(10n ** 18n / 20n);
    expect(await chatter.getByTestId('serve-reward').textContent()).toBe(`${formatAlc(share)} ALC`);
    // With no span served yet, an answer is quoted at one share; the page says who is paid and when.
    expect(await chatter.getByTestId('model-fee').textContent()).toBe(`${formatAlc(share)} ALC an answer`);
    expect(await chatter.getByTestId('fee-explained').textContent()).toMatch(
      /before the room computes it .* and refunds the rest: a span whose holder left or\s+failed, or an answer that failed/s,
    );
    await chatter.getByTestId('chat-input').fill(FIRST);
    await chatter.getByTestId('chat-send').click();
    const problem = chatter.getByTestId('chat-problem');
    await problem.waitFor();
    expect(await problem.textContent()).toMatch(
      /^No room can serve ailo now: layer 0 of 6 has no contributor.*you can be one from this page: turn on "Serve this model from this browser" below\.$/s,
    );
    // The refused message goes back to the box; it is not part of the conversation.
    expect(await chatter.getByTestId('chat-input').inputValue()).toBe(FIRST);
    // A refused request cost nothing.
    expect(balance(chatterAddress)).toBe(10n * ALC);
    await shot(chatter, '01-chat-no-room');
  }, 120_000);

  it('three browsers serve two layers each; a greedy answer streams in and equals single-process generation; each holder earns the share', async () => {
    const trio = [];
    for (const name of ['holder-a', 'holder-b', 'holder-c']) trio.push(await openChat(name));
    for (const h of trio) await serve(h.page, 2);
    for (const [i, h] of trio.entries()) await status(h.page, `Serving layers ${2 * i}–${2 * i + 1} of 6`);
    // Chromium here has no GPU (--disable-gpu): 'auto' serves with WASM.
    expect(await trio[0]!.page.getByTestId('serve-device').textContent()).toMatch(/^Running on WASM on the CPU/);
    holders.push(...trio);
    await chatter
      .getByTestId('model-servable')
      .filter({ hasText: /^Servable/ })
      .waitFor();
    expect(await chatter.getByTestId('model-spans').textContent()).toBe('layers 0–1, layers 2–3, layers 4–5');
    expect((await node.inference!.models())[0]).toMatchObject({
      servable: true,
      spans: [
        { start: 0, end: 2 },
        { start: 2, end: 4 },
        { start: 4, end: 6 },
      ],
    });

    const before = trio.map((h) => balance(h.address));
    const paying = balance(chatterAddress);
    await expect.poll(() => chatter.getByTestId('model-fee').textContent()).toBe(`${formatAlc(3n * share)} ALC an answer`);
    const prompt = await ask(FIRST, 16);
    const text = await answer();
    expect(await chatter.getByTestId('answer').getByTestId('answer-done').textContent()).toMatch(
      new RegExp(
        `Done: 16 tokens · served by 3 contributors · outputs checked by the node's recomputation · cost ${formatAlc(3n * share)} ALC`,
      ),
    );
    expect(text).toBe(await greedy(prompt, 16));
    expect(text.length).toBeGreaterThan(0);
    await waitQuiet(node.url);
    expect(trio.map((h) => balance(h.address))).toEqual(before.map((b) => b + share));
    // The chatter paid what its answer's contributors earned: one share for each span that served it.
    expect(balance(chatterAddress)).toBe(paying - 3n * share);
    expect(await served(trio[0]!.page)).toBeGreaterThanOrEqual(16);
    await shot(chatter, '02-chat-answer-streamed');
    await shot(trio[0]!.page, '03-contributor-serving');
  }, 180_000);

  it('a holder closes its tab mid-answer: the standby takes its layers, the answer completes and matches; the closed one is not paid', async () => {
    const standby = await openChat('standby');
    await serve(standby.page, 2);
    await status(standby.page, /standby/);
    await shot(standby.page, '04-contributor-standby');
    const [a, leaver, c] = holders as [(typeof holders)[0], (typeof holders)[0], (typeof holders)[0]];
    const before = new Map([a, leaver, c, standby].map((h) => [h.address, balance(h.address)]));
    const base = await served(leaver.page);

    const prompt = await ask(SECOND, 48);
    // Once the leaver has answered the prefill and two tokens of this request, its tab closes.
    await waitFor('the leaver to be mid-answer', async () => ((await served(leaver.page)) >= base + 3 ? true : undefined), 60_000);
    await leaver.page.close();
    const text = await answer();
    await chatter.getByTestId('answer').getByTestId('answer-notice').first().waitFor();
    expect(await chatter.getByTestId('answer').getByTestId('answer-notice').first().textContent()).toMatch(/a contributor left/);
    expect(text).toBe(await greedy(prompt, 48));
    await status(standby.page, 'Serving layers 2–3 of 6');
    await waitQuiet(node.url);
    for (const h of [a, c, standby]) expect(balance(h.address), h.address).toBe(before.get(h.address)! + share);
    expect(balance(leaver.address)).toBe(before.get(leaver.address));
    holders.splice(1, 1, standby);
    await shot(chatter, '05-chat-answer-after-a-holder-left');
  }, 180_000);

  it('a holder whose result frames are altered in flight is caught by the node, removed (WRONG_OUTPUT) and not paid', async () => {
    const cheater = await openChat('cheater', proxy.url);
    await serve(cheater.page, 2);
    await status(cheater.page, /standby/);
    // The first holder stops serving from its page; the cheater takes its layers.
    const first = holders[0]!;
    await first.page.getByTestId('serve-toggle').click();
    await status(first.page, /^Stopped\./);
    await status(cheater.page, 'Serving layers 0–1 of 6');
    await chatter
      .getByTestId('model-servable')
      .filter({ hasText: /^Servable/ })
      .waitFor();
    const before = new Map([cheater, ...holders].map((h) => [h.address, balance(h.address)]));

    // After a reload the session survives but the wallet key does not: the chat form asks for the password, which
    // unlocks the key that signs the answer's fee.
    await chatter.reload();
    await chatter
      .getByTestId('model-servable')
      .filter({ hasText: /^Servable/ })
      .waitFor();
    await chatter.getByTestId('chat-password').fill(MINER_PASSWORD);
    await ask(THIRD, 4);
    await answer();
    await status(cheater.page, /Removed by the node \(WRONG_OUTPUT\)/);
    expect(proxy.altered()).toBeGreaterThan(0);
    await waitQuiet(node.url);
    expect(balance(cheater.address)).toBe(before.get(cheater.address));
    for (const h of holders.slice(1)) expect(balance(h.address)).toBe(before.get(h.address)! + share);
    expect(balance(first.address)).toBe(before.get(first.address));
    await chatter
      .getByTestId('model-servable')
      .filter({ hasText: /^Not servable/ })
      .waitFor();
    await shot(cheater.page, '06-contributor-removed-wrong-output');
    await shot(first.page, '07-contributor-stopped');
  }, 180_000);

  it('no page logged an error (but the refused chat, which Chromium logs as a failed load)', () => {
    expect(problems).toEqual([]);
  });
});
