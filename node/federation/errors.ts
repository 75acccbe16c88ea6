/**
 * The federation's domain errors: each carries a code of protocol/federation.ts's FEDERATION_ERRORS and a message that
 * says what to do. Domain code throws them; node/api/errors.ts maps them to HTTP (the status each code is answered
 * with), as it maps the chain's TxError and BlockError.
 */
import { AiloError } from '../../protocol/errors.js';
import type { FederationErrorCode } from '../../protocol/federation.js';

export class FederationError extends AiloError {
  override name = 'FederationError';

  constructor(
    override readonly code: FederationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export function federationError(code: FederationErrorCode, message: string): FederationError {
  return new FederationError(code, message);
}
