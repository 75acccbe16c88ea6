/** `ailo send`: sign an EIP-712 transfer with the key file's key and submit it to a node. */
import { readKeyFile } from '../data-dir.js';
import { signTransfer } from '../../chain/tx/sign.js';
import { privateKeyToAddress } from '../../protocol/signature.js';
import { fetchNetworkDomain } from '../ailo-miner/node-network.js';
import { parseAddress, toChecksumAddress } from '../../protocol/address.js';
import { formatAlc, parseAlc } from '../../protocol/amount.js';
import { NO_RETRY, NodeClient } from '../../protocol/client.js';
import { AiloError, NodeError } from '../../protocol/errors.js';

/** One try a request (the person running the command sees the error); a refusal reads "CODE: message". */
async function call(client: NodeClient, path: string, init?: RequestInit): Promise<Record<string, unknown>> {
  try {
    return await client.json<Record<string, unknown>>(path, init);
  } catch (err) {
    if (err instanceof NodeError)
      throw new AiloError(err.code, err.unanswered ? `cannot reach ${client.url(path)}: ${err.message}` : `${err.code}: ${err.message}`, {
        cause: err,
      });
    throw err;
  }
}

export async function sendCommand(o: { key: string; to: string; amount: string; node: string; wait: boolean }): Promise<void> {
  const key = readKeyFile(o.key);
  const from = privateKeyToAddress(key);
  const to = parseAddress(o.to, '--to');
  const parsed = parseAlc(o.amount);
  if (!parsed.ok) throw new Error(`--amount: ${parsed.problem}`);
  const amount = parsed.value;
  if (amount === 0n) throw new Error('--amount must be more than 0');
  const node = o.node.replace(/\/+$/, '');
  const network = await fetchNetworkDomain(node).catch((err: Error) => {
    throw new Error(`cannot read the network of ${node}: ${err.message}`);
  });
  const client = new NodeClient(node, { retry: NO_RETRY });
  const account = await call(client, `/api/ledger/account/${toChecksumAddress(from)}`);
  const nonce = BigInt(account.pendingNonce as string);
  const body = signTransfer({ from, to, amount, nonce }, key, network);
  const sent = await call(client, '/api/ledger/transfer', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  console.log(`sent ${formatAlc(amount)} ALC to ${body.to}: ${String(sent.hash)} (pending)`);
  if (!o.wait) return;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const tx = await call(client, `/api/ledger/tx/${String(sent.hash)}`);
    if (tx.status === 'confirmed') {
      console.log(`confirmed in block ${String(tx.height)}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('not in a block within 60 s; it stays pending on the node');
}
