/**
 * What the miner's GUI shows besides the miner's own status: the log with timestamps, the loss and tokens/s
 * history, and listeners (the GUI's event streams) told of each change. Bounded: old entries drop off the front.
 */
import type { LogEntry, LogLevel, StepPoint } from '../../trainer/miner/status.js';

export type MonitorEvent = { type: 'log'; entry: LogEntry } | { type: 'point'; point: StepPoint } | { type: 'status' };

export class MinerMonitor {
  readonly logs: LogEntry[] = [];
  readonly points: StepPoint[] = [];
  private readonly listeners = new Set<(e: MonitorEvent) => void>();

  constructor(private readonly limits = { logs: 10_000, points: 5_000 }) {}

  log(text: string, level: LogLevel = 'info'): LogEntry {
    const entry = { at: Date.now(), level, text };
    push(this.logs, entry, this.limits.logs);
    this.emit({ type: 'log', entry });
    return entry;
  }

  point(point: StepPoint): void {
    push(this.points, point, this.limits.points);
    this.emit({ type: 'point', point });
  }

  /** The miner's status or settings changed (the listener reads them itself). */
  statusChanged(): void {
    this.emit({ type: 'status' });
  }

  subscribe(listener: (e: MonitorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The log as a file: one line per entry, `ISO-time level text`, or JSON lines. */
  exportLogs(format: 'text' | 'jsonl'): string {
    if (format === 'jsonl')
      return this.logs.map((e) => JSON.stringify({ at: new Date(e.at).toISOString(), level: e.level, text: e.text })).join('\n') + '\n';
    return this.logs.map((e) => `${new Date(e.at).toISOString()} ${e.level.padEnd(5)} ${e.text}`).join('\n') + '\n';
  }

  private emit(e: MonitorEvent): void {
    for (const listener of this.listeners) listener(e);
  }
}

function push<T>(list: T[], item: T, limit: number): void {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}
