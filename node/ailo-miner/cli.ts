/**
 * `ailo-miner`: trains on a node's tasks and earns ALC for the accepted updates. It serves its GUI on 127.0.0.1 and
 * opens it, unless --no-gui; the console shows the status line and the log either way.
 */
import { freemem, homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatAlc } from '../../protocol/amount.js';
import { parseAddress, toChecksumAddress } from '../../protocol/address.js';
import { deviceName, Miner, type MinerSummary } from '../../trainer/miner/miner.js';
import { DEFAULT_MAX_TEMPERATURE_C } from '../../trainer/miner/miner-loop.js';
import type { MinerStatus } from '../../trainer/miner/status.js';
import { chooseDevice, listGpus } from '../../trainer/miner/provider-choice.js';
import { MinerGui, POWER_RANGE } from './gui-server.js';
import { MinerMonitor } from './monitor.js';
import { openInBrowser } from './open-browser.js';
import { serveRoom } from './serve.js';
import { taskRequestSigner } from './task-signer.js';
import { KEY_ENV, loadWalletKey, type WalletKey } from './wallet-key.js';

const HELP = `ailo-miner: train the network's model on this machine and earn ALC

Usage: ailo-miner --key-file PATH [--wallet 0x...] [--node URL] [--power 20..90] [--cpu] [--gpu N] [--no-gui]
                  [--gui-port N] [--no-open] [--cache DIR] [--tasks N] [--memory GIB] [--max-temp C] [--precision fp16]
       ailo-miner --serve --key-file PATH [--node URL] [--model ID] [--layers N] [--memory GIB] [--cpu] [--gpu N] [--cache DIR]

  --key-file PATH  a file holding your wallet's private key (0x followed by 64 hex digits), readable only by you
                   (chmod 600 PATH). The miner signs its task requests with it, so no one else can take your
                   wallet's task slots; the key never leaves this machine. Or set AILO_MINER_KEY=0x... instead.
  --wallet 0x...   your wallet address (EIP-55 checksummed, or all lower case); rewards go here. Optional: it is
                   the key's address, and if given must match it
  --node URL       the coordinator node (default: $AILO_NODE, else http://127.0.0.1:8645)
  --power P        duty cycle in percent, 20..90 (default 70): the miner rests between steps
  --cpu            train on the CPU even where a GPU is available
  --gpu N          which GPU to use (CUDA device index)
  --no-gui         console only: no local web page
  --gui-port N     the GUI's port on 127.0.0.1 (default 8646; 0 picks a free one)
  --no-open        serve the GUI but do not open a browser on it
  --cache DIR      weight chunk cache (default ~/.ailo/miner-cache)
  --tasks N        stop after N tasks (default: until Ctrl-C)
  --max-temp C     on an NVIDIA GPU (temperature, power and memory read with nvidia-smi), rest while the GPU is
                   above C degrees Celsius, until it is 5 below (default 80)
  --memory GIB     memory the miner may use, in GiB (default: what the OS reports available). On the CPU the miner
                   trains the fastest way whose plan, with 15% kept free for the plan's error, fits (fused; else
                   layer-wise with activation checkpointing; else layer-wise with 8-bit AdamW moments) and refuses a
                   task, saying what it needs, when none fits
  --precision P    fp32 (default) or fp16: mixed precision on cuda (float16 products summed in float32, as
                   PyTorch's AMP does; float32 weights, AdamW and loss; dynamic loss scaling). The coordinator
                   recomputes such a task with float16 rounding emulated. Not on webgpu (onnxruntime sums its
                   float16 products in float16) or the CPU; if the GUI moves the miner there, it trains in fp32

  --serve          serve chat instead of training: join the node's inference room for the network's model, hold
                   a span of its layers (downloading only their chunks) and answer each request's hidden states;
                   every request served earns the network's inference share (0.05 ALC on the devnet), paid once the
                   node's spot checks pass. Console only; Ctrl-C leaves the room (the node moves the span); it
                   joins again by itself when the node restarts or the connection drops
  --model ID       with --serve: the model whose room to join (default ailo, the network's; the node's
                   GET /api/inference/models lists the others an operator serves)
  --layers N       with --serve: the most layers to hold (default: as many as fit in --memory, whose default
                   here is 80% of the free memory; the node gives the first layers no one holds)

Provider: cuda if its onnxruntime provider is installed, else webgpu if an adapter works, else cpu.
The GUI (dashboard, loss and tokens/s charts, logs with export, settings, about) changes power at once and the
device from the next task, without a restart. It answers on 127.0.0.1 only.
Ctrl-C finishes cleanly: the current step ends, the summary prints, and missing ledger records are reported.`;

function fail(message: string): never {
  console.error(`ailo-miner: ${message}`);
  process.exit(2);
}

export function parseWallet(value: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) fail(`--wallet ${value} is not a 20-byte hex address`);
  try {
    return toChecksumAddress(parseAddress(value, '--wallet'));
  } catch {
    fail(`--wallet ${value} fails its EIP-55 checksum; copy the address again from your wallet`);
  }
}

function statusLine(s: MinerStatus): string {
  const rate = s.tokensPerSecond >= 1000 ? `${(s.tokensPerSecond / 1000).toFixed(1)} kTok/s` : `${s.tokensPerSecond.toFixed(0)} Tok/s`;
  const gpu = s.gpu
    ? ` GPU ${s.gpu.temperatureC} C${s.gpu.powerW !== undefined ? ` ${s.gpu.powerW.toFixed(0)} W` : ''}${s.gpu.memoryUsedMiB !== undefined ? ` ${(s.gpu.memoryUsedMiB / 1024).toFixed(1)} GiB` : ''}`
    : '';
  return `v${s.version ?? '-'} step ${s.step}/${s.steps} loss ${s.loss?.toFixed(3) ?? '-'} ${rate} accepted ${s.accepted} rejected ${s.rejected} earned ${formatAlc(s.earned)} ALC${gpu}`;
}

function printSummary(sum: MinerSummary): void {
  const confirmed = sum.accepted.filter((r) => r.ledger.status === 'confirmed').length;
  console.log(`\nsummary: ${sum.tasks} tasks in ${sum.seconds.toFixed(0)} s, ${sum.tokens} tokens trained`);
  console.log(`  accepted ${sum.accepted.length}, rejected ${sum.rejections.length}, earned ${formatAlc(sum.earned)} ALC`);
  console.log(`  ledger: ${confirmed} of ${sum.accepted.length} contributions confirmed`);
  if (sum.unanswered.length > 0)
    console.log(`  ${sum.unanswered.length} submission(s) stopped before the node answered: ${sum.unanswered.join(', ')}`);
  for (const r of sum.accepted) {
    if (r.ledger.status !== 'confirmed')
      console.log(`  ! contribution ${r.contribution} (task ${r.taskId}) is ${r.ledger.status} on the ledger: ${r.ledger.detail}`);
  }
  const reasons = new Map<string, number>();
  for (const r of sum.rejections) reasons.set(r.code, (reasons.get(r.code) ?? 0) + 1);
  for (const [code, n] of reasons) console.log(`  rejected ${n}x: ${code}`);
  console.log(
    `  chunks: ${sum.chunks.fromCache} from cache, ${sum.chunks.downloaded} downloaded (${sum.chunks.bytesDownloaded} bytes, ${sum.chunks.resumed} resumed)`,
  );
}

/** Builds the web UI (which holds the miner's page) when its sources changed, as `npm start` does for the node. */
async function buildGuiIfStale(): Promise<void> {
  try {
    const { ensureUiBuilt } = await import('../../wallet-ui/tools/ui-build.js');
    await ensureUiBuilt((line) => console.log(line));
  } catch (err) {
    // An install without the build tools still serves a build that is there; the page says so if there is none.
    console.log(`the miner GUI could not be built (${(err as Error).message}); serving the last build`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      wallet: { type: 'string' },
      'key-file': { type: 'string' },
      node: { type: 'string', default: process.env.AILO_NODE || 'http://127.0.0.1:8645' },
      power: { type: 'string', default: '70' },
      cpu: { type: 'boolean', default: false },
      gpu: { type: 'string' },
      'no-gui': { type: 'boolean', default: false },
      'gui-port': { type: 'string', default: '8646' },
      'no-open': { type: 'boolean', default: false },
      cache: { type: 'string', default: join(homedir(), '.ailo', 'miner-cache') },
      tasks: { type: 'string' },
      memory: { type: 'string' },
      'max-temp': { type: 'string', default: String(DEFAULT_MAX_TEMPERATURE_C) },
      precision: { type: 'string', default: 'fp32' },
      serve: { type: 'boolean', default: false },
      layers: { type: 'string' },
      model: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const key = ((): WalletKey => {
    try {
      return loadWalletKey({ keyFile: values['key-file'], env: process.env[KEY_ENV] });
    } catch (err) {
      fail((err as Error).message);
    }
  })();
  const wallet = key.wallet;
  if (values.wallet !== undefined && parseWallet(values.wallet) !== wallet) {
    fail(
      `--wallet ${values.wallet} is not the address of the key given (${values['key-file'] !== undefined ? `--key-file ${values['key-file']}` : KEY_ENV}), ` +
        `which is ${wallet}; drop --wallet, or give that wallet's key`,
    );
  }
  const signTaskRequest = taskRequestSigner(key.privateKey, values.node);
  const power = Number(values.power);
  if (!Number.isInteger(power) || power < POWER_RANGE.min || power > POWER_RANGE.max)
    fail(`--power must be an integer from ${POWER_RANGE.min} to ${POWER_RANGE.max}, got ${values.power}`);
  const guiPort = Number(values['gui-port']);
  if (!Number.isInteger(guiPort) || guiPort < 0 || guiPort > 65535)
    fail(`--gui-port must be a port number (0 picks a free one), got ${values['gui-port']}`);
  let gpu: number | undefined;
  if (values.gpu !== undefined) {
    gpu = Number(values.gpu);
    if (!Number.isInteger(gpu) || gpu < 0) fail(`--gpu must be a device index (0, 1, ...), got ${values.gpu}`);
  }
  let maxTasks: number | undefined;
  if (values.tasks !== undefined) {
    maxTasks = Number(values.tasks);
    if (!Number.isInteger(maxTasks) || maxTasks < 1) fail(`--tasks must be a positive integer, got ${values.tasks}`);
  }
  const maxTemperatureC = Number(values['max-temp']);
  if (!Number.isFinite(maxTemperatureC) || maxTemperatureC < 40 || maxTemperatureC > 100)
    fail(`--max-temp must be a temperature from 40 to 100 (Celsius), got ${values['max-temp']}`);
  let memoryBytes: number | undefined;
  if (values.memory !== undefined) {
    const gib = Number(values.memory);
    if (!(gib > 0) || !Number.isFinite(gib)) fail(`--memory must be a positive number of GiB, got ${values.memory}`);
    memoryBytes = gib * 2 ** 30;
  }
  const precision = values.precision;
  if (precision !== 'fp32' && precision !== 'fp16') fail(`--precision must be fp32 or fp16, got ${precision}`);
  try {
    new URL(values.node);
  } catch {
    fail(`--node ${values.node} is not a URL`);
  }
  if ((values.layers !== undefined || values.model !== undefined) && !values.serve) fail('--layers and --model go with --serve');
  if (values.serve) {
    let layers = Number.MAX_SAFE_INTEGER;
    if (values.layers !== undefined) {
      layers = Number(values.layers);
      if (!Number.isInteger(layers) || layers < 1) fail(`--layers must be a positive integer, got ${values.layers}`);
    }
    const { device, why } = ((): ReturnType<typeof chooseDevice> => {
      try {
        return chooseDevice({ forceCpu: values.cpu, gpu }, values.cpu ? [] : listGpus());
      } catch (err) {
        fail((err as Error).message);
      }
    })();
    const memory = memoryBytes ?? Math.floor(0.8 * freemem());
    process.exit(
      await serveRoom({
        key,
        nodeUrl: values.node,
        model: values.model ?? 'ailo',
        layers,
        memoryBytes: memory,
        device,
        why,
        cacheDir: values.cache,
      }),
    );
  }
  const gui = !values['no-gui'];
  if (gui) await buildGuiIfStale();
  // The GUI offers every GPU even when --cpu starts on the CPU; the console with --cpu needs no probe.
  const gpus = gui || !values.cpu ? listGpus() : [];
  const { device, why } = ((): ReturnType<typeof chooseDevice> => {
    try {
      return chooseDevice({ forceCpu: values.cpu, gpu }, gpus);
    } catch (err) {
      fail((err as Error).message);
    }
  })();
  if (precision === 'fp16' && device.provider !== 'cuda')
    fail(
      `--precision fp16 is for cuda only, and this miner trains on ${device.provider}: ` +
        (device.provider === 'webgpu'
          ? "onnxruntime's WebGPU provider sums float16 products in float16, which moves an update far from float32 training"
          : "onnxruntime's CPU provider computes float16 products in float32") +
        '; drop --precision, or install the CUDA provider (see --help)',
    );
  const monitor = new MinerMonitor();
  const tty = process.stdout.isTTY;
  const log = (line: string): void => {
    monitor.log(line);
    process.stdout.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
  };
  log(`ailo-miner: wallet ${wallet}, node ${values.node}, device ${deviceName(device)} (${why}), power ${power}%`);

  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: string): void => {
    if (++interrupts > 1) process.exit(130);
    process.stdout.write(`\n${signal}: finishing the current step (Ctrl-C again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const miner = new Miner({
    wallet,
    signTaskRequest,
    nodeUrl: values.node,
    provider: device.provider,
    deviceId: device.deviceId,
    power,
    cacheDir: values.cache,
    maxTasks,
    memoryBytes,
    precision,
    maxTemperatureC,
    signal: controller.signal,
    log,
    onStatus: (s) => {
      monitor.statusChanged();
      if (tty) process.stdout.write(`\r\x1b[K${statusLine(s)}`);
    },
    onStep: (p) => monitor.point(p),
  });
  let guiServer: MinerGui | undefined;
  if (gui) {
    guiServer = new MinerGui({ miner, monitor, gpus, nodeUrl: values.node, wallet, cacheDir: values.cache, port: guiPort });
    try {
      const url = await guiServer.start();
      log(`miner GUI: ${url} (127.0.0.1 only)`);
      if (!values['no-open']) openInBrowser(url, log);
    } catch (err) {
      guiServer = undefined;
      log(`the miner GUI could not start (${(err as Error).message}); mining with the console only`);
    }
  }
  let error: Error | undefined;
  try {
    await miner.run();
  } catch (err) {
    error = err as Error;
  }
  if (!tty) console.log(statusLine(miner.status));
  try {
    // Its own client: the stop signal does not cut the ledger check short.
    await miner.settle(controller.signal.aborted ? 5_000 : 15_000);
  } catch (err) {
    console.log(`\nledger check failed: ${(err as Error).message}`);
  }
  printSummary(miner.summary);
  await guiServer?.stop();
  if (error) {
    console.error(`ailo-miner: ${error.message}`);
    process.exit(1);
  }
  process.exit(miner.summary.accepted.some((r) => r.ledger.status === 'missing' || r.ledger.status === 'mismatch') ? 3 : 0);
}

main().catch((err: Error) => {
  console.error(`ailo-miner: ${err.message}`);
  process.exit(1);
});
