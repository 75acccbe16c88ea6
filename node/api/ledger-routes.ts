/** Ledger routes: submit a signed transfer, read accounts, histories and transactions (with Merkle proofs). */
import type Router from '@koa/router';
import { toChecksumAddress } from '../../protocol/address.js';
import { signedTx } from '../../chain/tx/codec.js';
import type { NetworkDomain } from '../../chain/tx/eip712.js';
import type { SignedTx, TransferTx } from '../../chain/tx/types.js';
import type { LedgerService } from '../ledger-service.js';
import { readJsonBody } from './body.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { addressParam, amountParam, chainIdParam, hashParam, intQuery, signatureParam, uint64Param } from './params.js';
import { txView } from './views.js';
import type { LedgerAccount } from '../../protocol/ledger.js';

const TRANSFER_FIELDS = new Set(['from', 'to', 'amount', 'nonce', 'signature', 'chainId', 'genesisHash']);

/**
 * A signed transfer as wallets send it (protocol/ledger.ts `TransferBody`: from, to, amount, nonce, signature and,
 * optionally, the chainId and genesisHash it was signed for), checked field by field; `where` prefixes the field names
 * in errors (e.g. 'fee.' for a chat request's fee). Throws a 400 ApiError naming the field. The signature itself is
 * checked by LedgerService.submit/check.
 */
export function parseTransferBody(body: unknown, where = ''): { tx: SignedTx; signedFor: Partial<NetworkDomain> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('BAD_REQUEST', `${where || 'the body '}must be a signed transfer object (${[...TRANSFER_FIELDS].join(', ')})`);
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !TRANSFER_FIELDS.has(k));
  if (unknown.length > 0) throw badRequest('BAD_REQUEST', `unknown field(s): ${unknown.map((k) => where + k.slice(0, 40)).join(', ')}`);
  // The network the wallet says it signed for; the ledger refuses another one as TX_WRONG_CHAIN, naming both.
  const signedFor: Partial<NetworkDomain> = {};
  if (b.chainId !== undefined) signedFor.chainId = chainIdParam(b.chainId, `${where}chainId`);
  if (b.genesisHash !== undefined) signedFor.genesisHash = hashParam(b.genesisHash, `${where}genesisHash`);
  const tx: TransferTx = {
    type: 'transfer',
    from: addressParam(b.from, `${where}from`),
    to: addressParam(b.to, `${where}to`),
    amount: amountParam(b.amount, `${where}amount`),
    nonce: uint64Param(b.nonce, `${where}nonce`),
    signature: signatureParam(b.signature, `${where}signature`),
  };
  if (tx.amount === 0n) throw badRequest('TX_BAD_AMOUNT', `${where}amount must be at least 1 base unit`);
  return { tx: signedTx(tx), signedFor };
}

export function ledgerRoutes(router: Router, ledger: LedgerService): void {
  const { chain } = ledger;

  router.post('/api/ledger/transfer', async (ctx) => {
    const { tx, signedFor } = parseTransferBody(await readJsonBody(ctx));
    await ledger.submit(tx, signedFor);
    ctx.status = 202;
    ctx.body = { hash: tx.hash, status: 'pending' };
  });

  router.get('/api/ledger/account/:address', (ctx) => {
    const address = addressParam(ctx.params.address, 'address');
    const { balance, nonce, pendingNonce } = ledger.account(address);
    ctx.body = {
      address: toChecksumAddress(address),
      balance: balance.toString(),
      nonce: nonce.toString(),
      pendingNonce: pendingNonce.toString(),
      height: chain.height.toString(),
    } satisfies LedgerAccount;
  });

  router.get('/api/ledger/history/:address', async (ctx) => {
    const address = addressParam(ctx.params.address, 'address');
    const limit = intQuery(ctx.query.limit, 'limit', 20, 1, 200);
    let before: { height: bigint; index: number } | undefined;
    const cursor = ctx.query.before;
    if (cursor !== undefined) {
      const m = typeof cursor === 'string' ? /^([0-9]+):([0-9]+)$/.exec(cursor) : null;
      if (!m) throw badRequest('BAD_REQUEST', 'before must be a cursor "height:index" from a previous page');
      const index = uint64Param(m[2], 'the index in before');
      if (index > 0xffff_ffffn)
        throw badRequest('BAD_REQUEST', 'the index in before must be below 2^32: use a cursor from a previous page');
      before = { height: uint64Param(m[1], 'the height in before'), index: Number(index) };
    }
    const entries = await chain.store.historyPage(address, limit + 1, before);
    const page = entries.slice(0, limit);
    const items = [];
    const finalized = chain.finalizedHeight();
    for (const e of page) {
      const block = await chain.blockByHeight(e.height);
      const tx = block?.txs[e.index];
      if (!block || !tx) throw new ApiError(500, 'INTERNAL', `history of ${address} points at a missing transaction`);
      items.push({
        height: e.height.toString(),
        index: e.index,
        final: e.height <= finalized,
        timestamp: block.header.timestamp.toString(),
        tx: txView(tx),
      });
    }
    const last = page.at(-1);
    ctx.body = {
      address: toChecksumAddress(address),
      items,
      next: entries.length > limit && last ? `${last.height}:${last.index}` : null,
    };
  });

  router.get('/api/ledger/tx/:hash', async (ctx) => {
    const hash = hashParam(ctx.params.hash, 'hash');
    // Chain, then pool, then chain again: a transaction leaves the pool only after its block commits, so this
    // order never misses one that is moving from pending to confirmed.
    let found = await chain.txByHash(hash);
    const pending = found ? undefined : ledger.pool.get(hash);
    if (pending) {
      ctx.body = { status: 'pending', tx: txView(pending) };
      return;
    }
    found ??= await chain.txByHash(hash);
    if (found) {
      ctx.body = {
        status: 'confirmed',
        final: found.height <= chain.finalizedHeight(),
        height: found.height.toString(),
        index: found.index,
        blockHash: found.blockHash,
        txRoot: found.txRoot,
        proof: found.proof.map((s) => ({ sibling: s.sibling, left: s.left })),
        tx: txView(found.tx),
      };
      return;
    }
    throw notFound(`no transaction ${hash} in a block or pending`);
  });
}
