/** The node's HTTP API from the wallet: typed calls over the protocol's client; refusals are `NodeError`s. */
import { NO_RETRY, NodeClient } from '../../../protocol/client.js';
import { NodeError } from '../../../protocol/errors.js';
import type {
  AccountRecord,
  ChangePasswordBody,
  KdfParams,
  RecoverFinishBody,
  RecoveryGrant,
  RecoverySeal,
  RegisterBody,
  SessionGrant,
} from '../../../protocol/accounts.js';
import type {
  ChainHead,
  HistoryPage,
  LedgerAccount,
  NetworkStatus,
  RoundStatus,
  TransferBody,
  TxLookup,
} from '../../../protocol/ledger.js';
import type { InferenceModel } from '../../../protocol/inference.js';

/** The part of the genesis file (GET /api/chain/genesis) the wallet reads. */
export interface GenesisRewards {
  rewards: { inferenceShare: string };
}

export class NodeApi {
  /** The session's bearer token, when logged in. */
  token: string | undefined;
  private readonly client: NodeClient;

  /** `base`: the node's URL ('' for the node that serves the page). One try a request: a person sees the error. */
  constructor(base = '') {
    this.client = new NodeClient(base, {
      retry: NO_RETRY,
      headers: (): Record<string, string> => (this.token ? { authorization: `Bearer ${this.token}` } : {}),
    });
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.client.json<T>(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (err) {
      if (err instanceof NodeError && err.code === 'UNREACHABLE') {
        throw new NodeError(0, 'UNREACHABLE', 'The node did not answer. Check that it is running, then try again.', undefined, {
          cause: err,
        });
      }
      throw err;
    }
  }

  status = (): Promise<NetworkStatus> => this.request('GET', '/api/status');
  round = (): Promise<RoundStatus> => this.request('GET', '/api/round');
  head = (): Promise<ChainHead> => this.request('GET', '/api/chain/head');
  account = (address: string): Promise<LedgerAccount> => this.request('GET', `/api/ledger/account/${address}`);
  tx = (hash: string): Promise<TxLookup> => this.request('GET', `/api/ledger/tx/${hash}`);
  history = (address: string, limit: number, before?: string): Promise<HistoryPage> =>
    this.request('GET', `/api/ledger/history/${address}?limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ''}`);
  genesis = (): Promise<GenesisRewards> => this.request('GET', '/api/chain/genesis');
  inferenceModels = (): Promise<{ models: InferenceModel[] }> => this.request('GET', '/api/inference/models');
  transfer = (body: TransferBody): Promise<{ hash: string; status: 'pending' }> => this.request('POST', '/api/ledger/transfer', body);

  prelogin = (username: string): Promise<{ username: string; kdf: KdfParams }> =>
    this.request('POST', '/api/account/prelogin', { username });
  register = (body: RegisterBody): Promise<SessionGrant> => this.request('POST', '/api/account/register', body);
  login = (username: string, loginProof: string): Promise<SessionGrant> =>
    this.request('POST', '/api/account/login', { username, loginProof });
  logout = (): Promise<{ loggedOut: true }> => this.request('POST', '/api/account/logout', {});
  me = (): Promise<{ account: AccountRecord; expiresAt: number }> => this.request('GET', '/api/account/me');
  changePassword = (body: ChangePasswordBody): Promise<{ account: AccountRecord }> => this.request('POST', '/api/account/password', body);
  replaceRecoveryKey = (body: { currentLoginProof: string; recovery: RecoverySeal }): Promise<{ account: AccountRecord }> =>
    this.request('POST', '/api/account/recovery-key', body);
  recoverStart = (username: string, recoveryProof: string): Promise<RecoveryGrant> =>
    this.request('POST', '/api/account/recover/start', { username, recoveryProof });
  recoverFinish = (body: RecoverFinishBody): Promise<SessionGrant> => this.request('POST', '/api/account/recover/finish', body);
}
