/**
 * Inference routes: the models rooms serve (`GET /api/inference/models`) and chat (`POST /api/inference/chat`, a
 * logged-in account; the answer streams as server-sent events, one `token` event per sampled token). The room
 * channel itself is a WebSocket upgrade (InferenceService.attach).
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { CHAT_DEFAULTS, CHAT_LIMITS, type ChatEvent } from '../../protocol/inference.js';
import { decodeTokens as detokenize, encodeText, EOT_TOKEN } from '../../trainer/corpus/tokenizer.js';
import { decodeTokens } from '../../trainer/inference/decode.js';
import { makeSampler } from '../../trainer/runtime/sampling.js';
import { accountSession } from '../accounts/account-routes.js';
import type { AccountVault } from '../accounts/vault.js';
import { readJsonBody } from '../api/body.js';
import { ApiError, badRequest, notFound } from '../api/errors.js';
import { requestDigest, RoomError } from './room.js';
import type { Span } from '../../trainer/inference/span-runner.js';
import { ChatError, feeAmount, type ChatFee, type InferenceService } from './service.js';
import { parseAddress, type Address } from '../../protocol/address.js';
import { formatAlc } from '../../protocol/amount.js';
import { parseTransferBody } from '../api/ledger-routes.js';

interface ChatParams {
  model: string;
  fee: ChatFee;
  prompt: string;
  temperature: number;
  topK: number;
  maxTokens: number;
  seed: number;
}

/** Validates a chat body; a 400/413 ApiError naming the field otherwise. */
export function parseChatBody(body: Record<string, unknown>): ChatParams {
  const known = new Set(['model', 'prompt', 'temperature', 'topK', 'maxTokens', 'seed', 'fee']);
  for (const k of Object.keys(body))
    if (!known.has(k)) throw badRequest('BAD_REQUEST', `unknown field ${k.slice(0, 40)}; send ${[...known].join(', ')}`);
  if (typeof body.model !== 'string' || body.model.length === 0 || body.model.length > 80)
    throw badRequest('BAD_REQUEST', 'model must be a model id from GET /api/inference/models');
  if (typeof body.prompt !== 'string' || body.prompt.trim().length === 0) throw badRequest('BAD_REQUEST', 'prompt must be non-empty text');
  if (body.prompt.length > CHAT_LIMITS.maxPromptChars)
    throw new ApiError(413, 'PROMPT_TOO_LONG', `the prompt has ${body.prompt.length} characters; at most ${CHAT_LIMITS.maxPromptChars}`);
  const num = (k: string, def: number, min: number, max: number, integer: boolean): number => {
    const v = body[k];
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
      throw badRequest('BAD_REQUEST', `${k} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    return v;
  };
  if (body.fee === undefined)
    throw new ApiError(
      402,
      'FEE_REQUIRED',
      "a chat request carries its fee: a transfer signed by your account to the model's feeTo of its requestFee (GET /api/inference/models), in field fee",
    );
  return {
    model: body.model,
    fee: parseTransferBody(body.fee, 'fee.'),
    prompt: body.prompt,
    temperature: num('temperature', CHAT_DEFAULTS.temperature, 0, CHAT_LIMITS.maxTemperature, false),
    topK: num('topK', CHAT_DEFAULTS.topK, 0, CHAT_LIMITS.maxTopK, true),
    maxTokens: num('maxTokens', CHAT_DEFAULTS.maxTokens, 1, CHAT_LIMITS.maxTokens, true),
    seed: num('seed', 1, 0, 2 ** 31 - 1, true),
  };
}

export function inferenceRoutes(router: Router, service: InferenceService, vault: AccountVault): void {
  router.get('/api/inference/models', (ctx) => {
    ctx.body = { models: service.models() };
  });

  // An imported model's signed manifest (its chunks are served at /api/model/chunk/:name like the network model's).
  router.get('/api/inference/models/:id/manifest', (ctx) => {
    const signed = service.importedManifest(ctx.params.id!);
    if (!signed) throw notFound(`no imported model ${ctx.params.id!.slice(0, 40)}; the network's model is at GET /api/model`);
    ctx.body = signed;
  });

  router.post('/api/inference/chat', async (ctx) => {
    const account = await accountSession(ctx, vault);
    const p = parseChatBody(await readJsonBody(ctx, 64 * 1024));
    const finished = admit(service, account.account.address);
    try {
      await chat(ctx, service, p, parseAddress(account.account.address));
    } finally {
      finished();
    }
  });
}

function admit(service: InferenceService, account: string): () => void {
  try {
    return service.admit(account);
  } catch (err) {
    throw asApiError(err);
  }
}

function asApiError(err: unknown): unknown {
  if (err instanceof ChatError)
    return new ApiError(err.status, err.code, err.message, err.status === 503 || err.status === 429 ? { 'Retry-After': '5' } : {});
  return err;
}

async function chat(ctx: Context, service: InferenceService, p: ChatParams, requester: Address): Promise<void> {
  let room;
  let priced: { payable: number; slots: Span[] };
  try {
    room = await service.roomFor(p.model);
    priced = await service.checkFee(p.fee, room, requester);
  } catch (err) {
    throw asApiError(err);
  }
  const cfg = room.model.cfg;
  const ids = encodeText(p.prompt);
  const bad = ids.find((i) => i >= cfg.vocab_size);
  if (bad !== undefined)
    throw badRequest('BAD_PROMPT', `the prompt has token ${bad}, outside this model's ${cfg.vocab_size}-token vocabulary`);
  // Charged, and on the ledger, before the room computes anything: a fee whose nonce the account spends elsewhere
  // meanwhile buys nothing. What the contributors do not earn is refunded at the end.
  const fee = feeAmount(p.fee);
  try {
    await service.chargeFee(p.fee);
    if (!(await service.feeConfirmed(p.fee)))
      throw new ChatError(
        402,
        'FEE_NOT_CONFIRMED',
        `the fee ${p.fee.tx.hash} did not reach a block (another transaction of your account took its nonce, or the chain is stalled); nothing was run. Should it reach one later, it is refunded`,
      );
  } catch (err) {
    throw asApiError(err);
  }
  const request = requestDigest({ model: p.model, version: room.model.version, prompt: p.prompt, requester, at: Date.now() });
  // Running from here: the room keeps its model version until the request ends.
  const done = service.markRunning(request);
  let embedHead;
  try {
    embedHead = await service.embedHeadFor(room);
  } catch (err) {
    done();
    await service.refund(requester, fee, `request ${request.slice(0, 10)}, which failed before it ran`);
    throw err;
  }
  // From here the answer is a stream: errors become `error` events.
  ctx.respond = false;
  const res = ctx.res;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let closed = false;
  res.on('close', () => (closed = true));
  const send = (e: ChatEvent): void => {
    if (!closed) res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
  };
  send({
    type: 'start',
    request,
    model: p.model,
    ...(room.model.version === undefined ? {} : { version: room.model.version }),
    promptTokens: ids.length,
    fee: fee.toString(),
    feeTx: p.fee.tx.hash,
  });
  const pipeline = room.pipeline(request, (message) => send({ type: 'notice', message }), priced.slots);
  let failure: ChatEvent | undefined;
  const out: number[] = [];
  try {
    let text = '';
    const sample = makeSampler({ temperature: p.temperature, topK: p.topK, seed: p.seed });
    for await (const token of decodeTokens({ cfg, embedHead, pipeline, prompt: ids, maxTokens: p.maxTokens, sample })) {
      if (token === EOT_TOKEN) break;
      out.push(token);
      // Text by difference: one character may span tokens (GPT-2 BPE works on bytes).
      const full = detokenize(out);
      const complete = full.endsWith('\uFFFD') ? full.slice(0, full.lastIndexOf('\uFFFD')) : full;
      send({ type: 'token', id: token, text: complete.slice(text.length) });
      if (complete.length > text.length) text = complete;
      if (closed) break;
    }
  } catch (err) {
    const e = err instanceof RoomError || err instanceof ChatError ? err : undefined;
    failure = { type: 'error', code: e?.code ?? 'INTERNAL', message: e ? e.message : 'the request failed; the node logged why' };
    if (!e) service.logError(`inference: request ${request.slice(0, 10)} failed: ${(err as Error)?.stack ?? String(err)}`);
  }
  let refunded = false;
  try {
    for (const m of pipeline.servers()) if (!m.left) m.channel.sendJson({ type: 'drop', session: request });
    // Finished or not, the contributors that stayed (and pass the checks) are paid for their slots; the rest of the
    // fee goes back to the requester.
    const settled = await room.settle(pipeline, request, requester, priced.payable);
    await service.pay(settled.owed);
    const refund = fee - service.share * BigInt(settled.paid);
    refunded = true;
    await service.refund(requester, refund, `request ${request.slice(0, 10)}`);
    if (settled.caught.length > 0)
      send({
        type: 'notice',
        message: `${settled.caught.length} contributor(s) returned wrong hidden states for this answer: removed from the room and unpaid; the answer may be wrong`,
      });
    if (refund > 0n)
      send({
        type: 'notice',
        message: `${formatAlc(refund)} ALC of the fee is refunded: the slots no contributor earned (one that left, failed, or is your own wallet)`,
      });
    send(
      failure ?? {
        type: 'done',
        tokens: out.length,
        contributors: pipeline.servers().length,
        checked: settled.checked,
        caught: settled.caught.length,
        refund: refund.toString(),
      },
    );
  } catch (err) {
    service.logError(`inference: settling request ${request.slice(0, 10)} failed: ${(err as Error)?.stack ?? String(err)}`);
    // Settling failed before anyone was paid for this request (pay and refund never throw): the whole fee goes back.
    if (!refunded) await service.refund(requester, fee, `request ${request.slice(0, 10)}, which could not be settled`);
    send(failure ?? { type: 'error', code: 'INTERNAL', message: 'the request failed; the node logged why' });
  } finally {
    done();
    res.end();
  }
}
