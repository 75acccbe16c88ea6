/**
 * What an attacker (or any miner) can do with a node: its public HTTP routes and nothing else. Tasks are asked for with
 * EIP-712 signed requests, weights come from GET /api/model and its chunks (each checked against its sha256 name), and
 * balances are read back from the ledger routes.
 */
import { createHash } from 'node:crypto';
import { parseAddress, toChecksumAddress, type Address } from '../../../protocol/address.js';
import type { RoundStatus } from '../../../protocol/ledger.js';
import { privateKeyToAddress, randomPrivateKey } from '../../../protocol/signature.js';
import type { NetworkDomain } from '../../../chain/tx/eip712.js';
import { signTaskRequest } from '../../../chain/tx/task-request.js';
import { tokensFromBytes } from '../../../trainer/corpus/shard-format.js';
import { placeChunk, type SignedModelManifest } from '../../../trainer/federated/model-manifest.js';
import { submitPath, type Task } from '../../../protocol/federation.js';
import type { ModelConfig } from '../../../trainer/model/config.js';
import type { Weights } from '../../../trainer/model/weights.js';
import { NO_RETRY, NodeClient } from '../../../protocol/client.js';
import { fetchNetworkDomain } from '../../ailo-miner/node-network.js';

/** A wallet of the red team: a fresh key per attacker, never funded. */
export interface RedTeamWallet {
  key: Uint8Array;
  /** EIP-55 checksummed. */
  address: string;
}

export function freshWallet(): RedTeamWallet {
  const key = randomPrivateKey();
  return { key, address: toChecksumAddress(privateKeyToAddress(key)) };
}

/** A node's answer to one request: the HTTP status, and for a refusal its `error.code`. */
export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  /** `error.code` of a 4xx/5xx; 'OK' otherwise. */
  code: string;
  body: T;
}

/** What came of one POST /api/submit_gradient. */
export interface SubmitOutcome {
  accepted: boolean;
  status: number;
  /** 'ACCEPTED' or the refusal's error code. */
  code: string;
  reward: bigint;
  quality?: number;
  contribution?: string;
  /** The node's measured share of a full task's task-specific gain, where its answer names one. */
  workRatio?: number;
  /** The node's measured mean losses, before and after, on the task rows and the held-out rows it drew. */
  taskLoss?: [number, number];
  heldOutLoss?: [number, number];
  message?: string;
}

export class RedTeamRequestError extends Error {
  override readonly name = 'RedTeamRequestError';
  constructor(
    readonly what: string,
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${what}: HTTP ${status} ${code}: ${message}`);
  }
}

export class PublicApi {
  private networkValue: NetworkDomain | undefined;
  private coordinatorValue: Address | undefined;
  private readonly weightsByVersion = new Map<number, { cfg: ModelConfig; weights: Weights }>();

  /** The node's one client, without retries: an attacker sees every answer as it comes. */
  private readonly client: NodeClient;

  constructor(readonly url: string) {
    this.client = new NodeClient(url, { retry: NO_RETRY });
  }

  /** Any request, answered with its status, refusal code and body (never thrown, whatever the status). */
  async request<T = Record<string, unknown>>(path: string, init: RequestInit = {}): Promise<ApiAnswer<T>> {
    const res = await this.client.request(path, init, { transientAsAnswer: true });
    const text = await res.text();
    let body: unknown = {};
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      body = { raw: text };
    }
    const code = res.ok ? 'OK' : ((body as { error?: { code?: string } }).error?.code ?? `HTTP_${res.status}`);
    return { status: res.status, code, body: body as T };
  }

  /** The network a signature for this node must be bound to (chainId and genesis hash). */
  async network(): Promise<NetworkDomain> {
    this.networkValue ??= await fetchNetworkDomain(this.url);
    return this.networkValue;
  }

  /** The coordinator answering here (GET /api/round): who task requests are signed for. */
  async coordinator(): Promise<Address> {
    if (!this.coordinatorValue) {
      const r = await this.request<RoundStatus>('/api/round');
      if (r.status !== 200 || !r.body.coordinator)
        throw new RedTeamRequestError('GET /api/round', r.status, r.code, JSON.stringify(r.body));
      this.coordinatorValue = parseAddress(r.body.coordinator, 'coordinator');
    }
    return this.coordinatorValue;
  }

  /** POST /api/task with any JSON body (signed or not): what a thief tries. */
  postTaskRequest(body: unknown): Promise<ApiAnswer> {
    return this.request('/api/task', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  /** A task for `w`, asked for with a fresh signed request; throws on anything but 201. */
  async task(w: RedTeamWallet): Promise<Task> {
    const r = await this.postTaskRequest(signTaskRequest(w.key, await this.network(), await this.coordinator()));
    if (r.status !== 201) throw new RedTeamRequestError(`POST /api/task for ${w.address}`, r.status, r.code, JSON.stringify(r.body));
    return r.body as unknown as Task;
  }

  /** Gives a task back so it holds no slot of its wallet. */
  async abandon(task: Task, w: RedTeamWallet): Promise<ApiAnswer> {
    return this.request(`/api/task/${task.taskId}?wallet=${w.address}`, { method: 'DELETE' });
  }

  async tokens(task: Task): Promise<Uint16Array> {
    const res = await this.client.request(`/api/task/${task.taskId}/tokens`, {}, { transientAsAnswer: true });
    if (!res.ok) throw new RedTeamRequestError(`GET tokens of ${task.taskId}`, res.status, `HTTP_${res.status}`, await res.text());
    return tokensFromBytes(new Uint8Array(await res.arrayBuffer()));
  }

  /** POST /api/submit_gradient as the miner sends it; the reported loss is whatever the sender claims. */
  async submit(w: RedTeamWallet, task: Task, body: Uint8Array, claimedLoss = 0.5): Promise<SubmitOutcome> {
    const path = submitPath({
      wallet: w.address,
      taskId: task.taskId,
      modelVersion: task.modelVersion,
      loss: claimedLoss,
      batchSize: task.batchSize,
    });
    const r = await this.request<{
      reward?: string;
      quality?: number;
      contribution?: string;
      measured?: { workRatio?: number; taskLoss?: [number, number]; heldOutLoss?: [number, number] };
      error?: { message?: string };
    }>(path, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(body),
    });
    if (r.status === 200) {
      return {
        accepted: true,
        status: 200,
        code: 'ACCEPTED',
        reward: BigInt(r.body.reward ?? '0'),
        quality: r.body.quality,
        contribution: r.body.contribution,
        workRatio: typeof r.body.measured?.workRatio === 'number' ? r.body.measured.workRatio : undefined,
        taskLoss: r.body.measured?.taskLoss,
        heldOutLoss: r.body.measured?.heldOutLoss,
      };
    }
    return { accepted: false, status: r.status, code: r.code, reward: 0n, message: r.body.error?.message };
  }

  /** The version the node serves now. */
  async currentVersion(): Promise<number> {
    const r = await this.request<SignedModelManifest>('/api/model');
    if (r.status !== 200) throw new RedTeamRequestError('GET /api/model', r.status, r.code, JSON.stringify(r.body));
    return r.body.version;
  }

  /** A version's weights in the model's parameter order, or undefined when the node no longer serves it. */
  async weights(version: number): Promise<{ cfg: ModelConfig; weights: Weights } | undefined> {
    const known = this.weightsByVersion.get(version);
    if (known) return known;
    const r = await this.request<SignedModelManifest>(`/api/model?version=${version}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new RedTeamRequestError(`GET /api/model?version=${version}`, r.status, r.code, JSON.stringify(r.body));
    const manifest = r.body.manifest;
    const placed: Weights = new Map();
    for (const chunk of manifest.chunks) placeChunk(manifest, placed, chunk, await this.chunk(chunk.name));
    const weights: Weights = new Map(Object.keys(manifest.tensorMap).map((n) => [n, placed.get(n)!]));
    const entry = { cfg: manifest.config, weights };
    this.weightsByVersion.set(version, entry);
    for (const v of this.weightsByVersion.keys()) if (v < version - 8) this.weightsByVersion.delete(v);
    return entry;
  }

  private async chunk(name: string): Promise<Uint8Array> {
    const res = await this.client.request(`/api/model/chunk/${name}`, {}, { transientAsAnswer: true });
    if (!res.ok) throw new RedTeamRequestError(`GET chunk ${name}`, res.status, `HTTP_${res.status}`, await res.text());
    const bytes = new Uint8Array(await res.arrayBuffer());
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== name) throw new Error(`chunk ${name} arrived with sha256 ${digest}`);
    return bytes;
  }

  async balance(address: string): Promise<bigint> {
    const r = await this.request<{ balance: string }>(`/api/ledger/account/${address}`);
    if (r.status !== 200) throw new RedTeamRequestError(`GET /api/ledger/account/${address}`, r.status, r.code, JSON.stringify(r.body));
    return BigInt(r.body.balance);
  }

  /** 'confirmed', 'pending' or 'missing'. */
  async txStatus(hash: string): Promise<string> {
    const r = await this.request<{ status: string }>(`/api/ledger/tx/${hash}`);
    return r.status === 404 ? 'missing' : r.body.status;
  }

  /**
   * Waits until transaction `hash` is in a block: an accepted submission answers once its `contribution` is in the
   * pool, and balances are read from committed state. Throws naming the status it still had after `timeoutMs`.
   */
  async untilConfirmed(hash: string, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.txStatus(hash);
      if (status === 'confirmed') return;
      if (Date.now() > end) throw new Error(`transaction ${hash} still ${status} after ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
