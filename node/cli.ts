/** `ailo-node` (and `npm start`): runs a node on a data folder. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_FEDERATION, type FederationConfig } from './federation/service.js';
import { AiloNode, DEFAULT_PORT } from './node.js';
import { createLogger, parseLogLevel } from './log.js';

const HELP = `ailo-node: run an Ailo Network node

Usage: ailo-node [--data DIR] [--port N] [--host ADDR] [--genesis FILE] [--coordinator-key FILE]
                 [--peers URL,...] [--public-url URL] [--no-federation] [--rounds FILE]
                 [--log-level LEVEL] [--log-format text|json] [--serve-model ID=FILE ...]

  --data DIR               data folder (default ./data): LevelDB chain, genesis.json, coordinator.key or node.key
  --port N                 HTTP port (default ${DEFAULT_PORT})
  --host ADDR              address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)
  --genesis FILE           genesis JSON of the network to join or start (default: the folder's own, or a new devnet)
  --coordinator-key FILE   hex private key of a coordinator named in the genesis (default: DIR/coordinator.key if present)
  --peers URL,...          other nodes of the same network to sync and gossip with, each at its own --public-url
                           (their peers are found too)
  --public-url URL         the URL peers reach this node at (default: the listening address)
  --log-level LEVEL        debug, info (default), warn or error
  --log-format FORMAT      text (default) or json (one object per line)
  --no-federation          a coordinator seals blocks but runs no training rounds (no /api/model, /api/task, /api/submit_gradient)
  --serve-model ID=FILE    serve a GPT-2-family checkpoint (Hugging Face safetensors, as ailo-trainer import reads
                           it; config in its metadata or a config.json beside it) for chat as model ID, in an
                           inference room of its own beside the network's model (repeatable; coordinators only)
  --rounds FILE            JSON of training-round settings that override the defaults (FederationConfig in
                           node/federation/service.ts), e.g. {"roundSize": 8, "roundMs": 600000, "steps": 12}

A fresh --data folder started without --genesis becomes a one-coordinator devnet: a coordinator key is created
in the folder and allotted 1,000,000 ALC.`;

const TASK_SHAPE = new Set(['steps', 'batchSize', 'seqLen']);

/** The --rounds file: a JSON object whose keys are FederationConfig fields, each of its default's type. */
function readRoundSettings(path: string): Partial<FederationConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`--rounds ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`--rounds ${path}: must hold a JSON object of round settings`);
  const defaults = DEFAULT_FEDERATION as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(parsed)) {
    const known = key === 'shardsDir' ? 'string' : key in defaults ? typeof defaults[key] : undefined;
    if (!known) throw new Error(`--rounds ${path}: unknown setting "${key}"; known: ${[...Object.keys(defaults), 'shardsDir'].join(', ')}`);
    if (typeof value !== known || (known === 'number' && !(Number.isFinite(value) && (value as number) >= 0)))
      throw new Error(`--rounds ${path}: "${key}" must be ${known === 'number' ? 'a number >= 0' : `a ${known}`}`);
    // A task's shape: a task of no steps (or rows) would train nothing, and pay for it.
    if (TASK_SHAPE.has(key) && !(Number.isInteger(value) && (value as number) >= 1))
      throw new Error(`--rounds ${path}: "${key}" must be a whole number >= 1`);
  }
  return parsed as Partial<FederationConfig>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'data' },
      port: { type: 'string', default: String(DEFAULT_PORT) },
      host: { type: 'string', default: '127.0.0.1' },
      genesis: { type: 'string' },
      'coordinator-key': { type: 'string' },
      peers: { type: 'string' },
      'public-url': { type: 'string' },
      'no-federation': { type: 'boolean' },
      rounds: { type: 'string' },
      'serve-model': { type: 'string', multiple: true },
      'log-level': { type: 'string', default: 'info' },
      'log-format': { type: 'string', default: 'text' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  const format = values['log-format'];
  if (format !== 'text' && format !== 'json') throw new Error(`--log-format must be text or json, got "${format}"`);
  const logger = createLogger(parseLogLevel(values['log-level']), format);
  const node = await AiloNode.start({
    logger,
    data: values.data,
    port,
    host: values.host,
    genesisFile: values.genesis,
    coordinatorKeyFile: values['coordinator-key'],
    federation: values['no-federation'] ? undefined : values.rounds ? readRoundSettings(values.rounds) : {},
    peers: values.peers
      ? values.peers
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean)
      : [],
    publicUrl: values['public-url'],
    inferenceModels: (values['serve-model'] ?? []).map((v) => {
      const eq = v.indexOf('=');
      if (eq < 1 || eq === v.length - 1) throw new Error(`--serve-model ${v}: give ID=FILE, e.g. gpt2=models/gpt2/model.safetensors`);
      return { id: v.slice(0, eq), file: v.slice(eq + 1) };
    }),
  });
  const p = node.prepared;
  logger.info(`ailo-node: ${p.networkName} (chainId ${p.spec.chainId}) at height ${node.chain.height}, head ${node.chain.head.hash}`);
  logger.info(
    p.coordinator
      ? `coordinator ${p.coordinator.address}: sealing blocks${node.federation ? `, training rounds on model version ${node.federation.version}` : ''}`
      : 'follower: not a coordinator of this chain',
  );
  logger.info(`listening on ${node.url} (status: ${node.url}/api/status)`, { peers: node.network.peers.active().length });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping`);
    node.stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error(err.message);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: Error) => {
  console.error(`ailo-node: ${err.message}`);
  process.exit(1);
});
