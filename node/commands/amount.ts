/** ALC amounts as people type them ("1.5") and as the ledger keeps them (base units, 18 decimals). */
export function parseAlc(text: string): bigint {
  const m = /^([0-9]{1,60})(?:\.([0-9]{1,18}))?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not an ALC amount (e.g. 1.5; at most 18 decimals)`);
  return BigInt(m[1]!) * 10n ** 18n + BigInt((m[2] ?? '').padEnd(18, '0'));
}
