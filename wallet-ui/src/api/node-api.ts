/** The node's HTTP API from the browser: one fetch wrapper that turns `{ error: { code, message } }` into NodeApiError. */
import type { KdfParams, SealedKey } from '../crypto/account-keys.js';
import type {
  AccountRecord, ChainHead, HistoryPage, LedgerAccount, NetworkStatus, RecoveryGrant, RecoverySeal, RoundStatus, SessionGrant, TransferBody, TxLookup,
} from './types.js';

export class NodeApiError extends Error {
  override name = 'NodeApiError';
  constructor(readonly status: number, readonly code: string, message: string, readonly retryAfterSeconds?: number) {
    super(message);
  }
}

export class NodeApi {
  /** The session's bearer token, when logged in. */
  token: string | undefined;

  constructor(private readonly base = '') {}

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch {
      throw new NodeApiError(0, 'NETWORK', 'The node did not answer. Check that it is running, then try again.');
    }
    const json = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    if (!res.ok) {
      const retry = Number(res.headers.get('retry-after'));
      throw new NodeApiError(
        res.status, json?.error?.code ?? `HTTP_${res.status}`, json?.error?.message ?? `the node answered ${res.status}`,
        Number.isFinite(retry) && retry > 0 ? retry : undefined,
      );
    }
    return json as T;
  }

  status = (): Promise<NetworkStatus> => this.request('GET', '/api/status');
  round = (): Promise<RoundStatus> => this.request('GET', '/api/round');
  head = (): Promise<ChainHead> => this.request('GET', '/api/chain/head');
  account = (address: string): Promise<LedgerAccount> => this.request('GET', `/api/ledger/account/${address}`);
  tx = (hash: string): Promise<TxLookup> => this.request('GET', `/api/ledger/tx/${hash}`);
  history = (address: string, limit: number, before?: string): Promise<HistoryPage> =>
    this.request('GET', `/api/ledger/history/${address}?limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ''}`);
  transfer = (body: TransferBody): Promise<{ hash: string; status: 'pending' }> => this.request('POST', '/api/ledger/transfer', body);

  prelogin = (username: string): Promise<{ username: string; kdf: KdfParams }> => this.request('POST', '/api/account/prelogin', { username });
  register = (body: { username: string; address: string; kdf: KdfParams; loginProof: string; wallet: SealedKey; recovery: RecoverySeal }): Promise<SessionGrant> =>
    this.request('POST', '/api/account/register', body);
  login = (username: string, loginProof: string): Promise<SessionGrant> => this.request('POST', '/api/account/login', { username, loginProof });
  logout = (): Promise<{ loggedOut: true }> => this.request('POST', '/api/account/logout', {});
  me = (): Promise<{ account: AccountRecord; expiresAt: number }> => this.request('GET', '/api/account/me');
  changePassword = (body: { currentLoginProof: string; kdf: KdfParams; loginProof: string; wallet: SealedKey }): Promise<{ account: AccountRecord }> =>
    this.request('POST', '/api/account/password', body);
  replaceRecoveryKey = (body: { currentLoginProof: string; recovery: RecoverySeal }): Promise<{ account: AccountRecord }> =>
    this.request('POST', '/api/account/recovery-key', body);
  recoverStart = (username: string, recoveryProof: string): Promise<RecoveryGrant> =>
    this.request('POST', '/api/account/recover/start', { username, recoveryProof });
  recoverFinish = (body: { recoveryToken: string; kdf: KdfParams; loginProof: string; wallet: SealedKey; recovery: RecoverySeal }): Promise<SessionGrant> =>
    this.request('POST', '/api/account/recover/finish', body);
}
