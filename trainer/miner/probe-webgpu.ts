// Runs a one-node graph on onnxruntime's webgpu provider and prints "webgpu ok" (the miner's provider probe).
import { GraphBuilder } from '../onnx/builder.js';
import { createSession, ort } from '../runtime/session.js';

const g = new GraphBuilder('probe');
g.input('x', 'float32', [4]);
g.output('x', 'y', 'float32', [4]);
const session = await createSession(g.toBytes(), 'webgpu', { forbidCpuFallback: false });
const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]) });
if ((out.y!.data as Float32Array)[3] === 4) console.log('webgpu ok');
await session.release();
