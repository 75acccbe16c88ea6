/**
 * The page's link to the miner that serves it: one event stream (the whole state, then log lines, history points and
 * state changes as they come; the browser reconnects by itself) and the settings request.
 */
import { NO_RETRY, NodeClient } from '../../../protocol/client.js';
import { NodeError } from '../../../protocol/errors.js';
import type { LogEntry, MinerStateView, SettingsChange, StepPoint } from '../../../trainer/miner/status.js';

export interface MinerFeed {
  onState(state: MinerStateView): void;
  onLog(entry: LogEntry): void;
  onPoint(point: StepPoint): void;
  onConnection(up: boolean): void;
}

export function connect(feed: MinerFeed): () => void {
  const source = new EventSource('/api/miner/events');
  source.addEventListener('open', () => feed.onConnection(true));
  source.addEventListener('error', () => feed.onConnection(false));
  source.addEventListener('state', (e) => feed.onState(JSON.parse((e as MessageEvent<string>).data) as MinerStateView));
  source.addEventListener('log', (e) => feed.onLog(JSON.parse((e as MessageEvent<string>).data) as LogEntry));
  source.addEventListener('point', (e) => feed.onPoint(JSON.parse((e as MessageEvent<string>).data) as StepPoint));
  return () => source.close();
}

/** The miner answers on the page's own origin; one try (the person changing a setting sees the error). */
const miner = new NodeClient('', { retry: NO_RETRY });

/** PUT /api/miner/settings; a refusal or a miner that does not answer is a NodeError. */
export async function changeSettings(change: SettingsChange): Promise<MinerStateView> {
  try {
    return await miner.json<MinerStateView>('/api/miner/settings', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(change),
    });
  } catch (err) {
    if (err instanceof NodeError && err.code === 'UNREACHABLE')
      throw new NodeError(0, 'UNREACHABLE', 'the miner is not answering; is it still running?', undefined, { cause: err });
    throw err;
  }
}
