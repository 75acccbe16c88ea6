/** Structured logs: one line per event, as text or JSON, filtered by level (--log-level, --log-format). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function parseLogLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value))
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
  return value as LogLevel;
}

export function createLogger(
  level: LogLevel,
  format: 'text' | 'json',
  write: (line: string) => void = (l) => process.stdout.write(l + '\n'),
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const emit =
    (lvl: LogLevel) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      if (LOG_LEVELS.indexOf(lvl) < min) return;
      const time = new Date().toISOString();
      if (format === 'json') {
        write(JSON.stringify({ time, level: lvl, msg, ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      } else {
        const extra = Object.entries(fields)
          .map(([k, v]) => ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
          .join('');
        write(`${time} ${lvl.toUpperCase().padEnd(5)} ${msg}${extra}`);
      }
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/**
 * A log for lines that can repeat without bound (one per junk message a peer sends): per `kind` (a fixed string
 * from the code, so the table stays small) it writes the first `burst` lines of each `windowMs` and counts the rest,
 * then says how many it left out with the next line that is written.
 */
export function repeatLimited(
  log: (line: string) => void,
  o: { burst?: number; windowMs?: number; now?: () => number } = {},
): (kind: string, line: string) => void {
  const burst = o.burst ?? 5;
  const windowMs = o.windowMs ?? 60_000;
  const now = o.now ?? Date.now;
  const kinds = new Map<string, { start: number; written: number; suppressed: number }>();
  return (kind, line) => {
    const t = now();
    let k = kinds.get(kind);
    if (!k || t - k.start >= windowMs) {
      const left = k?.suppressed ?? 0;
      k = { start: t, written: 0, suppressed: 0 };
      kinds.set(kind, k);
      if (left > 0) line += ` (and ${left} more like it in the last ${Math.round(windowMs / 1000)} s, not logged)`;
    }
    if (k.written < burst) {
      k.written++;
      log(line);
    } else k.suppressed++;
  };
}
