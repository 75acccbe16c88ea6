/**
 * A chat request's fee (protocol/inference.ts `ChatRequestBody.fee`): a transfer of the model's `requestFee` to its
 * `feeTo` (the coordinator running the room), signed with the account's own key at its next nonce. The node charges
 * it once the first token is sampled and pays the request's contributors from it at most `fee / inferenceShare`
 * rewards, so no account earns by chatting with itself.
 */
import { parseAddress } from '../../../protocol/address.js';
import type { InferenceModel } from '../../../protocol/inference.js';
import type { TransferBody } from '../../../protocol/ledger.js';
import { privateKeyToAddress } from '../../../protocol/signature.js';
import { signTransfer } from '../../../chain/tx/sign.js';
import type { NetworkDomain } from '../../../chain/tx/eip712.js';
import type { NodeApi } from '../api/node-api.js';

/**
 * The fee of one request to `model` as quoted now, signed with `key` for `network` at `nonce` (the account's
 * `pendingNonce`). Throws if the model's quote is malformed (a node that does not charge for chat).
 */
export function chatFee(
  model: Pick<InferenceModel, 'requestFee' | 'feeTo'>,
  key: Uint8Array,
  network: NetworkDomain,
  nonce: bigint,
): TransferBody {
  if (!/^[0-9]{1,78}$/.test(model.requestFee ?? '')) throw new Error('the node quotes no fee for this model; update the node');
  const to = parseAddress(model.feeTo, 'the model feeTo');
  return signTransfer({ from: privateKeyToAddress(key), to, amount: BigInt(model.requestFee), nonce }, key, network);
}

/**
 * The fee of one request to `model`, signed at the account's next nonce as the node reports it, after checking that
 * the balance covers it. Throws an Error saying what is missing (ALC, or an answer from the node).
 */
export async function signedChatFee(api: NodeApi, model: InferenceModel, key: Uint8Array, network: NetworkDomain): Promise<TransferBody> {
  const account = await api.account(privateKeyToAddress(key));
  const fee = BigInt(model.requestFee);
  if (BigInt(account.balance) < fee) throw new InsufficientFeeError(fee, BigInt(account.balance));
  return chatFee(model, key, network, BigInt(account.pendingNonce));
}

/** The account holds less ALC than a request costs. */
export class InsufficientFeeError extends Error {
  override name = 'InsufficientFeeError';
  constructor(
    readonly fee: bigint,
    readonly balance: bigint,
  ) {
    super(`a request costs ${fee} base units; the account holds ${balance}`);
  }
}
