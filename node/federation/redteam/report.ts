/** A red-team run's results per attack class, their verdicts, and the table the CLI and the test print. */
import { ALC } from '../../../chain/spec.js';

export const REDTEAM_CLASSES = [
  'honest control',
  'noise',
  'other-text',
  'held-out-mix',
  'partial copy',
  'resale',
  'worsening',
  'sign/scale of honest',
  'half work',
  'task-slot theft',
  'replays',
] as const;

export type RedTeamClass = (typeof REDTEAM_CLASSES)[number];

/** One request of a class: a submission (or, for theft, a task request) and what the node answered. */
export interface AttemptRecord {
  cls: RedTeamClass;
  variant: string;
  wallet: string;
  modelVersion?: number;
  /** 'ACCEPTED' (HTTP 2xx) or the refusal's error code. */
  code: string;
  status: number;
  /** The reward the node's answer named (0 for a refusal). */
  reward: bigint;
  contribution?: string;
  note?: string;
}

export interface ClassResult {
  cls: RedTeamClass;
  tries: number;
  accepted: number;
  /** Sum of the class's wallets' ledger balances after the run (every wallet starts at 0). */
  paid: bigint;
  /** Refusal codes and how often each was seen. */
  codes: Record<string, number>;
  ok: boolean;
  /** Why the class failed, when it did. */
  problems: string[];
  notes: string[];
}

export interface RedTeamReport {
  rows: ClassResult[];
  attempts: AttemptRecord[];
  /** Half work's reward over the honest reward on the same model versions (null when there was nothing to compare). */
  halfWorkRatio: { half: number | null; quarter: number | null };
  victimQuota: { granted: number; of: number } | null;
  violations: string[];
  seconds: number;
  /** Seed of the attackers' random choices, to repeat a run. */
  seed: number;
}

export function formatAlc(units: bigint): string {
  const sign = units < 0n ? '-' : '';
  const abs = units < 0n ? -units : units;
  const frac = (abs % ALC).toString().padStart(18, '0').slice(0, 4);
  return `${sign}${abs / ALC}.${frac}`;
}

function codesText(codes: Record<string, number>): string {
  const list = Object.entries(codes).sort((a, b) => b[1] - a[1]);
  return list.length === 0 ? '-' : list.map(([c, n]) => `${c} x${n}`).join(', ');
}

function verdict(c: ClassResult): string {
  switch (c.cls) {
    case 'honest control':
      return c.ok ? 'ok' : 'FAIL';
    case 'half work':
      return c.ok ? 'capped' : 'OVERPAID';
    case 'task-slot theft':
      return c.ok ? 'refused' : 'STOLEN';
    default:
      return c.ok ? 'unpaid' : 'PAID';
  }
}

/** The table: one aligned row per class, then the notes and the violations. */
export function formatReport(r: RedTeamReport, o: { detail?: boolean } = {}): string {
  const header = ['class', 'tries', 'accepted', 'ALC paid', 'verdict', 'refusal codes'];
  const rows = r.rows.map((c) => [
    c.cls,
    String(c.tries),
    String(c.accepted),
    c.cls === 'task-slot theft' ? '-' : formatAlc(c.paid),
    verdict(c),
    codesText(c.codes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const right = new Set([1, 2, 3]);
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const notes = r.rows.flatMap((c) => c.notes.map((n) => `  ${c.cls}: ${n}`));
  if (notes.length > 0) out.push('', 'notes:', ...notes);
  if (o.detail) {
    out.push('', 'attempts:');
    for (const a of r.attempts) {
      out.push(
        `  ${a.cls.padEnd(20)} ${a.variant.padEnd(34)} v${a.modelVersion ?? '-'}  ${a.code}${a.reward > 0n ? ` ${formatAlc(a.reward)} ALC` : ''}${a.note ? `  (${a.note})` : ''}`,
      );
    }
  }
  out.push(
    '',
    r.violations.length === 0
      ? `no attacker was paid (${r.seconds.toFixed(0)} s, seed ${r.seed})`
      : `violations (${r.violations.length}; ${r.seconds.toFixed(0)} s, seed ${r.seed}):`,
  );
  for (const v of r.violations) out.push(`  - ${v}`);
  return out.join('\n');
}
