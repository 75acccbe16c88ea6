/** Why a federation request was refused: each code maps to one HTTP status and a message that says what to do. */
import { ApiError } from '../api/errors.js';

export const FederationErrorStatus = {
  UNKNOWN_TASK: 404,
  TASK_NOT_YOURS: 403,
  TASK_USED: 409,
  TASK_BUSY: 409,
  TASK_ABANDONED: 409,
  TASK_EXPIRED: 410,
  TASK_REFUSED: 409,
  TOO_MANY_TASKS: 429,
  UNSIGNED_TASK_REQUEST: 400,
  BAD_TASK_REQUEST: 400,
  BAD_TASK_SIGNATURE: 403,
  STALE_TASK_REQUEST: 400,
  REPLAYED_TASK_REQUEST: 409,
  VERSION_MISMATCH: 409,
  STALE_VERSION: 409,
  BAD_UPDATE: 400,
  SHAPE_MISMATCH: 400,
  NON_FINITE: 422,
  TOO_DENSE: 422,
  NORM_EXCEEDED: 422,
  DUPLICATE_UPDATE: 409,
  COPIED_UPDATE: 409,
  NO_IMPROVEMENT: 422,
  NOT_TASK_SPECIFIC: 422,
  TRAINED_ON_HELD_OUT: 422,
  HURTS_HELD_OUT: 422,
  OVERTRAINED: 422,
  TOO_LITTLE_WORK: 422,
  BAD_REQUEST: 400,
  NO_MODEL: 503,
} as const;

export type FederationErrorCode = keyof typeof FederationErrorStatus;

export function federationError(code: FederationErrorCode, message: string): ApiError {
  return new ApiError(FederationErrorStatus[code], code, message);
}
