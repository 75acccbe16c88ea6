import { describe, expect, it } from 'vitest';
import { repeatLimited } from './log.js';

describe('repeatLimited', () => {
  it('writes the first lines of a kind per window, then says how many it left out', () => {
    const lines: string[] = [];
    let t = 0;
    const log = repeatLimited((l) => lines.push(l), { burst: 2, windowMs: 1000, now: () => t });
    for (let i = 0; i < 2000; i++) log('junk', `junk ${i}`);
    log('other', 'other 0');
    expect(lines).toEqual(['junk 0', 'junk 1', 'other 0']);
    t = 1000;
    log('junk', 'junk later');
    expect(lines.at(-1)).toBe('junk later (and 1998 more like it in the last 1 s, not logged)');
  });
});
