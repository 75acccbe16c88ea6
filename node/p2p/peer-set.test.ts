import { describe, expect, it } from 'vitest';
import { MAX_PEERS, PeerSet } from './peer-set.js';

describe('PeerSet', () => {
  it('normalizes, ignores itself and junk, backs off unreachable peers and bans misbehaving ones', () => {
    let now = 1_000_000;
    const set = new PeerSet('http://127.0.0.1:1', ['http://127.0.0.1:2/', 'http://127.0.0.1:1', 'ftp://x', 'not a url'], () => now);
    expect(set.active()).toEqual(['http://127.0.0.1:2']);
    set.unreachable('http://127.0.0.1:2');
    expect(set.active()).toEqual([]);
    now += 300;
    expect(set.active()).toEqual(['http://127.0.0.1:2']);
    set.seen('http://127.0.0.1:2');
    expect(set.penalize('http://127.0.0.1:2', 30)).toBe(false);
    expect(set.penalize('http://127.0.0.1:2', 30)).toBe(true);
    expect(set.isBanned('http://127.0.0.1:2')).toBe(true);
    now += 11 * 60_000;
    expect(set.isBanned('http://127.0.0.1:2')).toBe(false);
  });

  it('makes room for new peers by evicting learned ones that keep failing, never the configured ones', () => {
    const set = new PeerSet('http://self:1', ['http://configured:1'], () => 0);
    for (let i = 0; set.list().length < MAX_PEERS; i++) set.add(`http://junk${i}:1`);
    expect(set.add('http://newcomer:1')).toBe(false);
    for (let k = 0; k < 5; k++) {
      set.unreachable('http://junk0:1');
      set.unreachable('http://configured:1');
    }
    expect(set.add('http://newcomer:1')).toBe(true);
    const urls = set.list().map((p) => p.url);
    expect(urls).toContain('http://configured:1');
    expect(urls).not.toContain('http://junk0:1');
  });
});
