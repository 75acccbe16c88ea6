/**
 * Federation routes: the model (manifest and chunks), tasks and their tokens, and gradient submissions.
 *
 * POST /api/submit_gradient carries the update as the raw body (`Content-Type: application/octet-stream`, the
 * codec of trainer/codec/update-codec.ts) and the seed's other fields in the query string:
 * `?wallet=0x..&taskId=0x..&modelVersion=N&loss=X&batchSize=N` (protocol/federation.ts `submitPath`).
 */
import { createReadStream, statSync } from 'node:fs';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { toChecksumAddress } from '../../protocol/address.js';
import { parseSignedTaskRequest } from '../../chain/tx/task-request.js';
import { readJsonBody, readRawBody } from '../api/body.js';
import { ApiError, badRequest, notFound } from '../api/errors.js';
import { addressParam, hashParam } from '../api/params.js';
import { tokensToBytes } from '../../trainer/corpus/shards.js';
import { UPDATE_CODEC_VERSION } from '../../trainer/codec/update-codec.js';
import { federationError } from './errors.js';
import { ModelStore } from './model-store.js';
import type { FederationService } from './service.js';
import type { TrainingTask } from './task-book.js';
import { TRAINING_SETTINGS, type SubmitAccepted, type Task } from '../../protocol/federation.js';

/** Answers GET /api/update/:digest from `store`: the bytes (immutable), 400 BAD_HASH, or 404 UNKNOWN_UPDATE. */
function serveUpdate(ctx: Context, store: ModelStore): void {
  const digest = ctx.params.digest!.replace(/^0x/, '');
  if (!ModelStore.isChunkName(digest)) throw badRequest('BAD_HASH', "an update's digest is its sha256 as 64 lowercase hex digits");
  const path = store.updatePath(digest);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new ApiError(404, 'UNKNOWN_UPDATE', `no accepted update with digest ${digest} is kept here`);
  }
  ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
  ctx.type = 'application/octet-stream';
  ctx.length = size;
  ctx.body = createReadStream(path);
}

const UPDATE_TYPES = /^application\/(octet-stream|vnd\.ailo\.update)\b/i;

const HOW_TO_SIGN =
  "signature being the wallet's EIP-712 signature (eth_signTypedData_v4) of " +
  'TaskRequest(address wallet,address coordinator,uint64 issuedAt,bytes32 nonce) in the domain { name: "Ailo Network", version: "1", chainId, salt } of this network ' +
  '(chainId and salt = genesisHash as GET /api/status gives them), ' +
  'coordinator the address GET /api/round names as coordinator, issuedAt the time in unix milliseconds and nonce 32 fresh random bytes (ailo-miner signs with --key-file; the dashboard with the logged-in account)';

function one(value: string | string[] | undefined, field: string): string {
  if (typeof value !== 'string') throw badRequest('BAD_REQUEST', `query parameter ${field} is required (once)`);
  return value;
}

/** The submission's `wallet`; the earlier name `username` (a wallet address, not a login name) gets a 400 that says so. */
function walletParam(q: Record<string, string | string[] | undefined>): string {
  if (q.wallet === undefined && q.username !== undefined) {
    throw badRequest(
      'BAD_REQUEST',
      'the query parameter username= is now wallet= (the 0x address the task was given to): update the miner',
    );
  }
  return one(q.wallet, 'wallet');
}

function intField(value: string, field: string): number {
  if (!/^[0-9]{1,15}$/.test(value)) throw badRequest('BAD_REQUEST', `${field} must be a non-negative integer`);
  return Number(value);
}

/** A task as the wire carries it (protocol/federation.ts). */
export function taskView(t: TrainingTask): Task {
  return {
    taskId: t.id,
    wallet: toChecksumAddress(t.wallet),
    modelVersion: t.modelVersion,
    data: { shard: `0x${t.shardDigest}`, shardName: t.shardName, offset: t.offset, length: t.length },
    batchSize: t.batchSize,
    seqLen: t.seqLen,
    steps: t.steps,
    lr: t.lr,
    deadline: t.deadline,
    maxAbs: t.maxAbs,
    density: t.density,
    maxValues: t.maxValues,
    maxBytes: t.maxBytes,
    codecVersion: UPDATE_CODEC_VERSION,
    tokens: `/api/task/${t.id}/tokens`,
  };
}

/** `otherChunk`: where a chunk this store lacks is kept elsewhere (an imported inference model's), if anywhere. */
export function federationRoutes(
  router: Router,
  f: FederationService,
  otherChunk: (name: string) => string | undefined = () => undefined,
): void {
  router.get('/api/model', (ctx) => {
    const q = ctx.query.version;
    const version = q === undefined ? f.version : intField(one(q, 'version'), 'version');
    const signed = f.manifest(version);
    if (!signed) throw notFound(`model version ${version} is not served here (current: ${f.version})`);
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = signed;
  });

  router.get('/api/model/chunk/:name', (ctx) => {
    const name = ctx.params.name!;
    if (!ModelStore.isChunkName(name)) throw badRequest('BAD_HASH', 'a chunk name is its sha256 as 64 lowercase hex digits');
    let path = f.store.chunkPath(name);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      const other = otherChunk(name);
      if (!other) throw notFound(`no chunk ${name}`);
      path = other;
      size = statSync(path).size;
    }
    const etag = `"${name}"`;
    ctx.set('ETag', etag);
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('Accept-Ranges', 'bytes');
    ctx.type = 'application/octet-stream';
    if (
      ctx
        .get('if-none-match')
        .split(',')
        .map((s) => s.trim())
        .includes(etag)
    ) {
      ctx.status = 304;
      return;
    }
    const range = ctx.get('range');
    let start = 0;
    let end = size - 1;
    if (range) {
      const m = /^bytes=([0-9]*)-([0-9]*)$/.exec(range.trim());
      if (m && (m[1] !== '' || m[2] !== '')) {
        if (m[1] === '') {
          start = Math.max(0, size - Number(m[2]));
        } else {
          start = Number(m[1]);
          if (m[2] !== '') end = Math.min(size - 1, Number(m[2]));
        }
        if (start >= size || start > end) {
          ctx.set('Content-Range', `bytes */${size}`);
          throw new ApiError(416, 'RANGE_NOT_SATISFIABLE', `range ${range} is outside the chunk's ${size} bytes`);
        }
        ctx.status = 206;
        ctx.set('Content-Range', `bytes ${start}-${end}/${size}`);
      }
    }
    ctx.length = end - start + 1;
    ctx.body = createReadStream(path, { start, end });
  });

  // An accepted update's bytes by the sha256 its contribution records (`gradientDigest`, with or without 0x): what an
  // auditor fetches to recompute every model version (`ailo audit --models`).
  router.get('/api/update/:digest', (ctx) => serveUpdate(ctx, f.store));

  // Only the wallet's owner may take its task slots: the body is a TaskRequest signed by the wallet (EIP-712).
  router.post('/api/task', async (ctx) => {
    const body = await readJsonBody(ctx);
    if (body.signature === undefined) {
      throw federationError(
        'UNSIGNED_TASK_REQUEST',
        `a task request must be signed by its wallet: send { wallet, coordinator, issuedAt, nonce, signature }, ${HOW_TO_SIGN}`,
      );
    }
    const parsed = parseSignedTaskRequest(body);
    if (!parsed.ok)
      throw federationError(
        'BAD_TASK_REQUEST',
        `${parsed.message}; the body is { wallet, coordinator, issuedAt, nonce, signature }, ${HOW_TO_SIGN}`,
      );
    ctx.status = 201;
    ctx.body = taskView(await f.issueTask(parsed.request, parsed.signature));
  });

  router.get('/api/task/:id', (ctx) => {
    const task = f.tasks.get(hashParam(ctx.params.id, 'task id'));
    if (!task) throw federationError('UNKNOWN_TASK', `no task ${ctx.params.id}`);
    ctx.body = { ...taskView(task), state: task.state };
  });

  // The task id authorises this: 256 random bits given only to the miner that asked. The wallet must match as well.
  // Idempotent: a task that holds no slot any more answers 200 with its state; one being verified answers 202.
  router.delete('/api/task/:id', (ctx) => {
    const id = hashParam(ctx.params.id, 'task id');
    const task = f.abandonTask(id, addressParam(one(ctx.query.wallet, 'wallet'), 'wallet'));
    ctx.status = task.state === 'busy' ? 202 : 200;
    ctx.body = { taskId: task.id, wallet: toChecksumAddress(task.wallet), state: task.state };
  });

  router.get('/api/task/:id/tokens', (ctx) => {
    const task = f.tasks.get(hashParam(ctx.params.id, 'task id'));
    if (!task) throw federationError('UNKNOWN_TASK', `no task ${ctx.params.id}`);
    ctx.type = 'application/octet-stream';
    ctx.body = Buffer.from(tokensToBytes(f.taskTokens(task)));
  });

  router.get('/api/round', (ctx) => {
    ctx.body = f.roundStatus();
  });

  router.post('/api/submit_gradient', async (ctx) => {
    const q = ctx.query;
    const loss = Number(one(q.loss, 'loss'));
    if (!Number.isFinite(loss)) throw badRequest('BAD_REQUEST', 'loss must be a finite number');
    const fields = {
      wallet: addressParam(walletParam(q), 'wallet'),
      taskId: hashParam(one(q.taskId, 'taskId'), 'taskId'),
      modelVersion: intField(one(q.modelVersion, 'modelVersion'), 'modelVersion'),
      loss,
      batchSize: intField(one(q.batchSize, 'batchSize'), 'batchSize'),
      settings: q.settings === undefined ? undefined : settingsParam(one(q.settings, 'settings')),
    };
    const task = f.precheck(fields);
    const body = await readRawBody(ctx, { limit: task.maxBytes, type: UPDATE_TYPES, typeName: 'application/octet-stream', what: 'update' });
    const a = await f.submit(fields, body);
    ctx.body = {
      accepted: true,
      taskId: a.taskId,
      contribution: a.contribution,
      gradientDigest: a.gradientDigest,
      quality: a.quality,
      multiplier: a.quality / 1000,
      reward: a.reward.toString(),
      roundVersion: a.roundVersion,
      measured: {
        taskLoss: [a.measurement.taskLossBefore, a.measurement.taskLossAfter],
        heldOutLoss: [a.measurement.heldLossBefore, a.measurement.heldLossAfter],
        specificGain: a.measurement.specificGain,
        workRatio: a.workRatio,
      },
    } satisfies SubmitAccepted;
  });
}

/** The optional `settings` of a submission (`cpu/layerwise/int8`); a 400 naming the form otherwise. */
function settingsParam(v: string): string {
  if (!TRAINING_SETTINGS.test(v))
    throw badRequest(
      'BAD_REQUEST',
      'settings must be <provider>/<layout>/<moments>, e.g. cpu/layerwise/int8 (provider cpu, webgpu, cuda or wasm; layout fused or layerwise; moments float32 or int8), or cuda/fused/float32/fp16 for mixed precision',
    );
  return v;
}
