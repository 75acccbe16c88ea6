/** The API's one error shape, `{ error: { code, message } }`, and how domain errors map onto HTTP statuses. */
import { AddressError } from '../../protocol/address.js';
import { BlockError, BlockErrorCode, TxError, TxErrorCode } from '../../chain/errors.js';
import { FEDERATION_ERRORS } from '../../protocol/federation.js';
import { FederationError } from '../federation/errors.js';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string): ApiError => new ApiError(400, code, message);
export const notFound = (message: string): ApiError => new ApiError(404, 'NOT_FOUND', message);

const TX_STATUS: Partial<Record<TxErrorCode, number>> = {
  [TxErrorCode.DUPLICATE]: 409,
  [TxErrorCode.BAD_NONCE]: 409,
  [TxErrorCode.NONCE_GAP]: 409,
  [TxErrorCode.INSUFFICIENT_BALANCE]: 422,
  [TxErrorCode.POOL_FULL]: 503,
};

/** Converts any thrown value into an ApiError; anything unexpected becomes a 500 that names no internals. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof FederationError) {
    // 503: the node cannot take it now (no model yet, or VERIFIER_BUSY while its own training does not fit its memory).
    const status = FEDERATION_ERRORS[err.code];
    return new ApiError(status, err.code, err.message, status === 503 ? { 'Retry-After': '30' } : {});
  }
  if (err instanceof TxError) {
    const status = TX_STATUS[err.code] ?? 400;
    return new ApiError(status, err.code, err.message, status === 503 ? { 'Retry-After': '2' } : {});
  }
  if (err instanceof BlockError) {
    if (err.code === BlockErrorCode.MODEL_UNCHECKED) return new ApiError(503, err.code, err.message, { 'Retry-After': '5' });
    return new ApiError(err.code === BlockErrorCode.BELOW_FINALITY ? 409 : 400, err.code, err.message);
  }
  if (err instanceof AddressError) return badRequest('BAD_ADDRESS', err.message);
  // The client hung up before its body arrived (Node's 'aborted' error): its fault, not the node's; nobody is left to
  // read the answer, and it is not logged as an internal error.
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNRESET' || code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return badRequest('REQUEST_ABORTED', 'the request was closed before its whole body arrived: send the body Content-Length announces');
  }
  return new ApiError(500, 'INTERNAL', 'internal error; the node logged the details');
}
