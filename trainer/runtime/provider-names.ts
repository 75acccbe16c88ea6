/** The execution providers of onnxruntime-node the trainer can run on (browser-safe: names only; see provider.ts). */
export const PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export type Provider = (typeof PROVIDERS)[number];
