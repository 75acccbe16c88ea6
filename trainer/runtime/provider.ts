// Execution providers of onnxruntime-node that the trainer can run on, and how to ask for them.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TrainerError, TrainerErrorCode } from '../errors.js';

import { PROVIDERS, type Provider } from './provider-names.js';

export { PROVIDERS, type Provider };

export function parseProvider(name: string): Provider {
  if ((PROVIDERS as readonly string[]).includes(name)) return name as Provider;
  throw new TrainerError(
    TrainerErrorCode.UNKNOWN_PROVIDER,
    `unknown execution provider "${name}" (choose one of: ${PROVIDERS.join(', ')})`,
  );
}

/** Whether parameters can stay on the device between runs (`gpu-buffer` outputs). */
export function keepsStateOnDevice(p: Provider): boolean {
  return p === 'webgpu';
}

/** Throws a clear error when the provider's library is not installed here. */
export function assertProviderAvailable(p: Provider): void {
  if (p !== 'cuda') return;
  const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const lib = join(pkg, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
  if (!existsSync(lib)) {
    throw new TrainerError(
      TrainerErrorCode.PROVIDER_UNAVAILABLE,
      'the cuda execution provider is not installed (it needs CUDA 12 and cuDNN 9); install it with ' +
        '`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`, or use --provider webgpu or cpu',
    );
  }
}
