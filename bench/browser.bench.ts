// Browser training speed: the browser miner's training session (onnxruntime-web, in its module worker) on
// ailo-tiny with the devnet's task shape, on `wasm` and on `webgpu` (SwiftShader here, a CPU rasterizer, not a
// GPU), against the native miner's onnxruntime-node `cpu` figure measured in the same run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startTestNode, testNet } from '../node/test/harness.js';
import { presetConfig } from '../trainer/model/config.js';
import type { BrowserBenchResult, MiningBackend, PageToWorker } from '../wallet-ui/src/browser-miner/protocol.js';
import { ensureUiBuilt, UI_DIST } from '../wallet-ui/tools/ui-build.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const CHROMIUM = '/usr/bin/chromium';
const SHAPE = { preset: 'ailo-tiny', batch: 4, seq: 32 };

function nativeCpuTokensPerSecond(steps: number): number | undefined {
  const r = spawnSync(
    process.execPath,
    [tsx, join(root, 'trainer/training/step-probe.ts'), SHAPE.preset, 'cpu', String(SHAPE.batch), String(SHAPE.seq), String(steps)],
    { encoding: 'utf8' },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  return r.status === 0 && line ? (JSON.parse(line) as { tokensPerSecond: number }).tokensPerSecond : undefined;
}

export async function run(): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    console.log('  browser training: skipped (no /usr/bin/chromium)');
    return;
  }
  await ensureUiBuilt(() => {});
  const workerFile = readdirSync(join(UI_DIST, 'assets')).find((f) => /^mining-worker-.*\.js$/.test(f));
  if (!workerFile) throw new Error('the built wallet UI has no mining worker');
  const net = testNet();
  const node = await startTestNode(net);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader',
      '--disable-background-networking',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${node.url}/dashboard`);
    const cfg = presetConfig(SHAPE.preset);
    const measure = (backend: MiningBackend, warmup: number, steps: number): Promise<BrowserBenchResult> => {
      const msg: PageToWorker = { type: 'bench', backend, cfg, batch: SHAPE.batch, seq: SHAPE.seq, warmup, steps };
      return page.evaluate(
        ({ url, msg }) =>
          new Promise<BrowserBenchResult>((resolve, reject) => {
            const w = new Worker(url, { type: 'module' });
            w.onerror = (e) => reject(new Error(e.message));
            w.onmessage = (e: MessageEvent<{ type: string; result?: BrowserBenchResult; message?: string }>) => {
              if (e.data.type === 'ready') w.postMessage(msg);
              else if (e.data.type === 'bench' || e.data.type === 'failed') {
                w.terminate();
                if (e.data.result) resolve(e.data.result);
                else reject(new Error(e.data.message));
              }
            };
          }),
        { url: `/assets/${workerFile}`, msg },
      );
    };
    console.log(
      `browser training speed, ${SHAPE.preset}, batch ${SHAPE.batch}x${SHAPE.seq} (the devnet's task shape), fused forward+backward+AdamW:`,
    );
    const cpu = nativeCpuTokensPerSecond(8);
    console.log(`  native onnxruntime-node cpu: ${cpu ? `${cpu.toFixed(0)} tokens/s` : 'failed'}`);
    const report = (r: BrowserBenchResult, note: string): void =>
      console.log(
        `  browser ${r.backend}: ${r.tokensPerSecond.toFixed(1)} tokens/s (${r.msPerStep.toFixed(0)} ms/step; session ${(r.createMs / 1000).toFixed(1)} s, ` +
          `first step ${(r.firstStepMs / 1000).toFixed(1)} s${note})` +
          (cpu ? `; ${(r.tokensPerSecond / cpu).toFixed(3)}x native cpu` : ''),
      );
    report(await measure('wasm', 1, 4), ', one thread: the page is not cross-origin isolated');
    // SwiftShader takes seconds a step (its first step compiles every shader), so few measured steps; on a real GPU raise it.
    const gpuSteps = Number(process.env.AILO_BENCH_WEBGPU_STEPS ?? 3);
    report(await measure('webgpu', 1, gpuSteps), '; SwiftShader here, a CPU rasterizer, not a GPU');
  } finally {
    await browser.close();
    await node.stop();
    net.remove();
  }
}
