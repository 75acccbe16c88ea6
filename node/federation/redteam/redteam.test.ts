/**
 * The red-team suite at CI size: one round of every attack class against a real devnet node on loopback (HTTP only,
 * real signatures, LevelDB). Each class is its own test, so a failure names the class that was paid.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDTEAM_FEDERATION, startDevnetTarget, type RedTeamTarget } from './devnet-node.js';
import { formatReport, REDTEAM_CLASSES, type RedTeamReport } from './report.js';
import { runRedTeam } from './suite.js';

describe('red team: fakes earn nothing', () => {
  let target: RedTeamTarget;
  let corpusCache: string;
  let report: RedTeamReport;

  beforeAll(async () => {
    target = await startDevnetTarget({ federation: REDTEAM_FEDERATION });
    corpusCache = mkdtempSync(join(tmpdir(), 'ailo-redteam-corpus-'));
    report = await runRedTeam({
      url: target.url,
      tries: 1,
      tasksPerWallet: REDTEAM_FEDERATION.tasksPerWallet,
      corpusCacheDir: corpusCache,
    });
    console.log(formatReport(report, { detail: true }));
  }, 420_000);

  afterAll(async () => {
    await target?.stop();
    if (corpusCache) rmSync(corpusCache, { recursive: true, force: true });
  });

  it.each(REDTEAM_CLASSES.map((cls) => [cls]))('%s', (cls) => {
    const row = report.rows.find((r) => r.cls === cls)!;
    expect(row.tries, `${cls} was never tried`).toBeGreaterThan(0);
    const paid = report.attempts.filter((a) => a.cls === cls && a.code === 'ACCEPTED').map((a) => `${a.variant}: ${a.reward} base units`);
    expect(row.problems, `${cls}; accepted: ${paid.join(', ') || 'none'}; ${row.notes.join('; ')}`).toEqual([]);
  });
});
