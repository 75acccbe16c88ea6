/** `ailo-node` (and `npm start`): runs a node on a data folder. */
import { parseArgs } from 'node:util';
import { AiloNode, DEFAULT_PORT } from './node.js';

const HELP = `ailo-node: run an Ailo Network node

Usage: ailo-node [--data DIR] [--port N] [--host ADDR] [--genesis FILE] [--coordinator-key FILE]
                 [--peers URL,...] [--public-url URL] [--no-federation]

  --data DIR               data folder (default ./data): LevelDB chain, genesis.json, coordinator.key
  --port N                 HTTP port (default ${DEFAULT_PORT})
  --host ADDR              address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)
  --genesis FILE           genesis JSON of the network to join or start (default: the folder's own, or a new devnet)
  --coordinator-key FILE   hex private key of a coordinator named in the genesis (default: DIR/coordinator.key if present)
  --peers URL,...          other nodes of the same network to sync and gossip with (their peers are found too)
  --public-url URL         the URL peers reach this node at (default: the listening address)
  --no-federation          a coordinator seals blocks but runs no training rounds (no /api/model, /api/task, /api/submit_gradient)

A fresh --data folder started without --genesis becomes a one-coordinator devnet: a coordinator key is created
in the folder and allotted 1,000,000 ALC.`;

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
  const node = await AiloNode.start({
    data: values.data, port, host: values.host, genesisFile: values.genesis, coordinatorKeyFile: values['coordinator-key'],
    federation: values['no-federation'] ? undefined : {},
    peers: values.peers ? values.peers.split(',').map((p) => p.trim()).filter(Boolean) : [], publicUrl: values['public-url'],
  });
  const p = node.prepared;
  console.log(`ailo-node: ${p.networkName} (chainId ${p.spec.chainId}) at height ${node.chain.height}, head ${node.chain.head.hash}`);
  console.log(p.coordinator ? `coordinator ${p.coordinator.address}: sealing blocks${node.federation ? `, training rounds on model version ${node.federation.version}` : ''}` : 'follower: not a coordinator of this chain');
  console.log(`listening on ${node.url} (status: ${node.url}/api/status)`);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    node.stop().then(() => process.exit(0), (err: Error) => {
      console.error(err.message);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: Error) => {
  console.error(`ailo-node: ${err.message}`);
  process.exit(1);
});
