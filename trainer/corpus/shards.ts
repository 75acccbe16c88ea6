/** Token shards: the format (browser-safe), the builder and the verified reader. */
export * from './shard-format.js';
export * from './shard-builder.js';
export * from './shard-set.js';
