/**
 * The page's link to the miner that serves it: one event stream (the whole state, then log lines, history points and
 * state changes as they come; the browser reconnects by itself) and the settings request.
 */
import type { LogEntry, MinerState, SettingsChange, StepPoint } from './types.js';

export class MinerApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface MinerFeed {
  onState(state: MinerState): void;
  onLog(entry: LogEntry): void;
  onPoint(point: StepPoint): void;
  onConnection(up: boolean): void;
}

export function connect(feed: MinerFeed): () => void {
  const source = new EventSource('/api/miner/events');
  source.addEventListener('open', () => feed.onConnection(true));
  source.addEventListener('error', () => feed.onConnection(false));
  source.addEventListener('state', (e) => feed.onState(JSON.parse((e as MessageEvent<string>).data) as MinerState));
  source.addEventListener('log', (e) => feed.onLog(JSON.parse((e as MessageEvent<string>).data) as LogEntry));
  source.addEventListener('point', (e) => feed.onPoint(JSON.parse((e as MessageEvent<string>).data) as StepPoint));
  return () => source.close();
}

export async function changeSettings(change: SettingsChange): Promise<MinerState> {
  let res: Response;
  try {
    res = await fetch('/api/miner/settings', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(change) });
  } catch {
    throw new MinerApiError(0, 'UNREACHABLE', 'the miner is not answering; is it still running?');
  }
  const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok) throw new MinerApiError(res.status, body.error?.code ?? `HTTP_${res.status}`, body.error?.message ?? `the miner answered ${res.status}`);
  return body as MinerState;
}
