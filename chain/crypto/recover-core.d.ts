/** Types of recover-core.js (plain JavaScript so worker threads load it without a TypeScript loader). */
export declare const backend: 'native-libsecp256k1' | 'noble-js';
export declare function recoverBatch(digests: Uint8Array, sigs: Uint8Array): { addresses: Uint8Array; ok: Uint8Array };
