/** Typed errors of the data pipeline: each carries a stable code, and its message says what to fix. */

export enum DataErrorCode {
  /** A command-line flag or builder option is missing or malformed. */
  BAD_OPTION = 'DATA_BAD_OPTION',
  /** An input file or folder does not exist or cannot be read. */
  INPUT_NOT_FOUND = 'DATA_INPUT_NOT_FOUND',
  /** An input file is not in the format it was declared to be. */
  BAD_INPUT = 'DATA_BAD_INPUT',
  /** The shard manifest is missing or not a valid manifest. */
  BAD_MANIFEST = 'DATA_BAD_MANIFEST',
  /** A shard named by the manifest is not on disk. */
  MISSING_SHARD = 'DATA_MISSING_SHARD',
  /** A shard's size or sha256 does not match the manifest. */
  DIGEST_MISMATCH = 'DATA_DIGEST_MISMATCH',
  /** A read names a shard the set does not have. */
  UNKNOWN_SHARD = 'DATA_UNKNOWN_SHARD',
  /** A read reaches outside its shard, or its offset or length is not a valid integer. */
  OUT_OF_RANGE = 'DATA_OUT_OF_RANGE',
  /** The output folder already holds a shard set and overwriting was not asked for. */
  OUTPUT_EXISTS = 'DATA_OUTPUT_EXISTS',
}

export class DataError extends Error {
  override name = 'DataError';
  constructor(
    readonly code: DataErrorCode,
    message: string,
  ) {
    super(message);
  }
}
