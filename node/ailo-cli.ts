/** `ailo`: the operator's and auditor's tool: audit a chain, send ALC, create keys and genesis files. */
import { parseArgs } from 'node:util';
import { toChecksumAddress } from '../protocol/address.js';
import { privateKeyToAddress, randomPrivateKey } from '../protocol/signature.js';
import { auditCommand } from './commands/audit.js';
import { genesisNewCommand } from './commands/genesis.js';
import { sendCommand } from './commands/send.js';
import { writeKeyFile } from './data-dir.js';
import { DEFAULT_PORT } from './node.js';

const HELP = `ailo: tools for Ailo Network operators, wallets and auditors

  ailo audit --data DIR           replay and check a node's data folder from genesis (indexes included)
  ailo audit --node URL           replay and check the chain a node serves
      [--models]                  also recompute every model version from the genesis weights and the accepted
                                  updates (GET /api/update/:digest, or the data folder's federation/updates)
  ailo send --key FILE --to ADDR --amount ALC [--node URL] [--wait]
                                  sign an EIP-712 transfer and submit it (amount in ALC, e.g. 2.5)
  ailo key new --out FILE         create a private key file (mode 0600) and print its address
  ailo genesis new --out DIR [--name NAME] [--chain-id N] [--coordinators N] [--period-ms MS] [--model CONFIG]
                                  create a new network: genesis.json and fresh coordinator keys
                                  (without --chain-id, a random chain id)

The default --node is $AILO_NODE, else http://127.0.0.1:${DEFAULT_PORT}. audit exits 1 when it finds any fault.`;

async function main(argv: string[]): Promise<number> {
  const [command = '', sub] = argv;
  const rest = argv.slice(command === 'key' || command === 'genesis' ? 2 : 1);
  const { values } = parseArgs({
    args: rest,
    options: {
      data: { type: 'string' },
      node: { type: 'string' },
      key: { type: 'string' },
      to: { type: 'string' },
      amount: { type: 'string' },
      wait: { type: 'boolean', default: false },
      out: { type: 'string' },
      name: { type: 'string', default: 'ailo-network' },
      'chain-id': { type: 'string' },
      coordinators: { type: 'string', default: '1' },
      'period-ms': { type: 'string', default: '2000' },
      model: { type: 'string', default: 'ailo-1b' },
      quiet: { type: 'boolean', default: false },
      models: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const need = (v: string | undefined, flag: string): string => {
    if (!v) throw new Error(`${command} needs ${flag}`);
    return v;
  };
  if (values.help || !command || command.startsWith('-')) {
    console.log(HELP);
    return 0;
  }
  switch (command) {
    case 'audit':
      return auditCommand({ data: values.data, node: values.node, quiet: values.quiet, models: values.models });
    case 'send':
      await sendCommand({
        key: need(values.key, '--key FILE'),
        to: need(values.to, '--to ADDRESS'),
        amount: need(values.amount, '--amount ALC'),
        node: values.node ?? (process.env.AILO_NODE || `http://127.0.0.1:${DEFAULT_PORT}`),
        wait: values.wait,
      });
      return 0;
    case 'key':
      if (sub !== 'new') break;
      {
        const key = randomPrivateKey();
        writeKeyFile(need(values.out, '--out FILE'), key);
        console.log(toChecksumAddress(privateKeyToAddress(key)));
      }
      return 0;
    case 'genesis':
      if (sub !== 'new') break;
      genesisNewCommand({
        out: need(values.out, '--out DIR'),
        name: values.name,
        chainId: values['chain-id'],
        coordinators: values.coordinators,
        periodMs: values['period-ms'],
        model: values.model,
      });
      return 0;
  }
  throw new Error(`unknown command "${argv.join(' ')}"; run ailo --help`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`ailo: ${err.message}`);
    process.exit(1);
  },
);
