/** Test helpers for inference rooms: a native contributor on a test network, and a chat read as its SSE events. */
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { signInferenceJoin } from '../../chain/tx/task-request.js';
import type { NetworkDomain } from '../../chain/tx/eip712.js';
import { parseAddress } from '../../protocol/address.js';
import type { ChatEvent } from '../../protocol/inference.js';
import { RoomContributor, type ContributorOptions } from '../../trainer/inference/contributor.js';
import { ChunkCache } from '../../trainer/miner/chunk-cache.js';
import { nodeRuntime } from '../../trainer/runtime/model-session.js';

/**
 * A contributor on onnxruntime-node's cpu provider with the `ws` WebSocket, signing its joins with `key` for
 * `network`, its chunks cached under `cacheDir/<name>`. `Kind` lets an attacker test alter what it answers.
 */
export function nativeContributor(
  o: { nodeUrl: string; network: NetworkDomain; key: Uint8Array; maxLayers: number; cacheDir: string; name: string; model?: string },
  Kind: new (opts: ContributorOptions) => RoomContributor = RoomContributor,
): RoomContributor {
  return new Kind({
    nodeUrl: o.nodeUrl,
    model: o.model ?? 'ailo',
    maxLayers: o.maxLayers,
    signJoin: async (coordinator) => signInferenceJoin(o.key, o.network, parseAddress(coordinator)),
    runtime: nodeRuntime('cpu'),
    chunks: new ChunkCache(join(o.cacheDir, o.name)),
    webSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    agent: 'test',
  });
}

/** POST /api/inference/chat as the session `token`; the SSE answer's events, or the refusal's JSON. */
export async function chatEvents(
  nodeUrl: string,
  token: string,
  body: Record<string, unknown>,
): Promise<{ status: number; events: ChatEvent[]; json?: { error?: { code: string; message: string } } }> {
  const res = await fetch(`${nodeUrl}/api/inference/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) return { status: res.status, events: [], json: await res.json() };
  const events = (await res.text())
    .split('\n\n')
    .filter((b) => b.includes('data: '))
    .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)) as ChatEvent);
  return { status: res.status, events };
}

/** The token ids of a chat's events. */
export const tokenIds = (events: ChatEvent[]): number[] => events.flatMap((e) => (e.type === 'token' ? [e.id] : []));
