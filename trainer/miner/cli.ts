/** `ailo-miner`: trains on a node's tasks and earns ALC for the accepted updates (console mode). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatUnits, getAddress } from 'ethers';
import { Miner, type MinerStatus, type MinerSummary } from './miner.js';
import { chooseProvider } from './provider-choice.js';

const HELP = `ailo-miner: train the network's model on this machine and earn ALC

Usage: ailo-miner --wallet 0x... [--node URL] [--power 20..90] [--cpu] [--gpu N] [--no-gui] [--cache DIR] [--tasks N]

  --wallet 0x...   your wallet address (EIP-55 checksummed, or all lower case); rewards go here
  --node URL       the coordinator node (default http://127.0.0.1:8645)
  --power P        duty cycle in percent, 20..90 (default 90): the miner rests between steps
  --cpu            train on the CPU even where a GPU is available
  --gpu N          which GPU to use (CUDA device index)
  --no-gui         console only (the GUI is not built yet, so this is what every run does)
  --cache DIR      weight chunk cache (default ~/.ailo/miner-cache)
  --tasks N        stop after N tasks (default: until Ctrl-C)

Provider: cuda if its onnxruntime provider is installed, else webgpu if an adapter works, else cpu.
Ctrl-C finishes cleanly: the current step ends, the summary prints, and missing ledger records are reported.`;

function fail(message: string): never {
  console.error(`ailo-miner: ${message}`);
  process.exit(2);
}

export function parseWallet(value: string | undefined): string {
  if (!value) fail('--wallet is required (the address that receives your rewards)');
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) fail(`--wallet ${value} is not a 20-byte hex address`);
  try {
    return getAddress(value);
  } catch {
    fail(`--wallet ${value} fails its EIP-55 checksum; copy the address again from your wallet`);
  }
}

function statusLine(s: MinerStatus): string {
  const rate = s.tokensPerSecond >= 1000 ? `${(s.tokensPerSecond / 1000).toFixed(1)} kTok/s` : `${s.tokensPerSecond.toFixed(0)} Tok/s`;
  return `v${s.version ?? '-'} step ${s.step}/${s.steps} loss ${s.loss?.toFixed(3) ?? '-'} ${rate} accepted ${s.accepted} rejected ${s.rejected} earned ${formatUnits(s.earned, 18)} ALC`;
}

function printSummary(sum: MinerSummary): void {
  const confirmed = sum.accepted.filter((r) => r.ledger === 'confirmed').length;
  console.log(`\nsummary: ${sum.tasks} tasks in ${sum.seconds.toFixed(0)} s, ${sum.tokens} tokens trained`);
  console.log(`  accepted ${sum.accepted.length}, rejected ${sum.rejections.length}, earned ${formatUnits(sum.earned, 18)} ALC`);
  console.log(`  ledger: ${confirmed} of ${sum.accepted.length} contributions confirmed`);
  for (const r of sum.accepted.filter((x) => x.ledger !== 'confirmed')) console.log(`  ! contribution ${r.contribution} (task ${r.taskId}) is ${r.ledger} on the ledger`);
  const reasons = new Map<string, number>();
  for (const r of sum.rejections) reasons.set(r.code, (reasons.get(r.code) ?? 0) + 1);
  for (const [code, n] of reasons) console.log(`  rejected ${n}x: ${code}`);
  console.log(`  chunks: ${sum.chunks.fromCache} from cache, ${sum.chunks.downloaded} downloaded (${sum.chunks.bytesDownloaded} bytes, ${sum.chunks.resumed} resumed)`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      wallet: { type: 'string' },
      node: { type: 'string', default: 'http://127.0.0.1:8645' },
      power: { type: 'string', default: '90' },
      cpu: { type: 'boolean', default: false },
      gpu: { type: 'string' },
      'no-gui': { type: 'boolean', default: false },
      cache: { type: 'string', default: join(homedir(), '.ailo', 'miner-cache') },
      tasks: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const wallet = parseWallet(values.wallet);
  const power = Number(values.power);
  if (!Number.isInteger(power) || power < 20 || power > 90) fail(`--power must be an integer from 20 to 90, got ${values.power}`);
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
  try {
    new URL(values.node);
  } catch {
    fail(`--node ${values.node} is not a URL`);
  }
  if (!values['no-gui']) console.log('the miner GUI is not available yet; running in console mode');
  const { provider, why } = chooseProvider({ forceCpu: values.cpu, gpu });
  console.log(`ailo-miner: wallet ${wallet}, node ${values.node}, provider ${provider} (${why}), power ${power}%`);

  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: string): void => {
    if (++interrupts > 1) process.exit(130);
    process.stdout.write(`\n${signal}: finishing the current step (Ctrl-C again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const tty = process.stdout.isTTY;
  const miner = new Miner({
    wallet, nodeUrl: values.node, provider, power, cacheDir: values.cache, maxTasks, signal: controller.signal,
    log: (line) => process.stdout.write(`${tty ? '\r\x1b[K' : ''}${line}\n`),
    onStatus: (s) => {
      if (tty) process.stdout.write(`\r\x1b[K${statusLine(s)}`);
    },
  });
  let error: Error | undefined;
  try {
    await miner.run();
  } catch (err) {
    error = err as Error;
  }
  if (!tty) console.log(statusLine(miner.status));
  if (miner.summary.accepted.length > 0) {
    // A fresh client: the stop signal must not cut the ledger check short.
    const checker = new Miner({ wallet, nodeUrl: values.node, provider, power: 100, cacheDir: values.cache, retry: { attempts: 3, baseMs: 500, maxMs: 2000 } });
    checker.summary.accepted.push(...miner.summary.accepted);
    try {
      await checker.settle(controller.signal.aborted ? 5_000 : 15_000);
    } catch (err) {
      console.log(`\nledger check failed: ${(err as Error).message}`);
    }
  }
  printSummary(miner.summary);
  if (error) {
    console.error(`ailo-miner: ${error.message}`);
    process.exit(1);
  }
  process.exit(miner.summary.accepted.some((r) => r.ledger === 'missing' || r.ledger === 'mismatch') ? 3 : 0);
}

main().catch((err: Error) => {
  console.error(`ailo-miner: ${err.message}`);
  process.exit(1);
});
