/**
 * The native miner: the one miner loop (`miner-loop.ts`) with onnxruntime-node sessions on the chosen provider and
 * the weight chunks in a folder on disk.
 */
import { nodeRuntime } from '../runtime/model-session.js';
import type { Provider } from '../runtime/provider.js';
import { TrainSession } from '../runtime/train-session.js';
import { ChunkCache } from './chunk-cache.js';
import { MinerLoop, type MinerOptions, type MinerPlatform } from './miner-loop.js';
import type { MinerDevice } from './status.js';

export { deviceName, sameDevice, type MinerSummary } from './miner-loop.js';

/** The platform parts of a native miner: chunks cached in `cacheDir`, sessions of onnxruntime-node. */
function nativePlatform(cacheDir: string): MinerPlatform {
  return {
    chunks: new ChunkCache(cacheDir),
    openSession: (cfg, shape, device) => {
      if (!device || device.provider === 'wasm')
        throw new RangeError(`the native miner trains on cpu, webgpu or cuda, not ${device?.provider ?? 'an unnamed device'}`);
      return TrainSession.open(nodeRuntime(device.provider, { deviceId: device.deviceId }), cfg, {
        batch: shape.batchSize,
        seq: shape.seqLen,
      });
    },
  };
}

interface NativeMinerOptions extends Omit<MinerOptions, 'platform' | 'device'> {
  provider: Provider;
  /** The CUDA device index (cuda only; the provider's default device when absent). */
  deviceId?: number;
  /** The weight chunk cache's folder. */
  cacheDir: string;
}

export class Miner extends MinerLoop {
  constructor(o: NativeMinerOptions) {
    super({ ...o, platform: nativePlatform(o.cacheDir), device: { provider: o.provider, deviceId: o.deviceId } });
  }

  /** The settings in force; a native miner always names its device. */
  override get settings(): { power: number; device: MinerDevice } {
    const s = super.settings;
    return { power: s.power, device: s.device! };
  }
}
