import { describe, expect, it } from 'vitest';
import type { Address } from '../../protocol/address.js';
import { wallet } from '../../chain/test/fixtures.js';
import { MAX_CANDIDATES, MAX_PEERS, PeerSet } from './peer-set.js';

const id = (n: number): Address => wallet(500 + n).address;

describe('PeerSet', () => {
  it('normalizes, ignores itself and junk, dials only proven peers, backs off unreachable ones and bans misbehaving ids', () => {
    let now = 1_000_000;
    const set = new PeerSet('http://127.0.0.1:1', ['http://127.0.0.1:2/', 'http://127.0.0.1:1', 'ftp://x', 'not a url'], () => now);
    expect(set.active()).toEqual([]);
    expect(set.unproven()).toEqual(['http://127.0.0.1:2']);
    expect(set.admit('http://127.0.0.1:2', id(1))).toBe(true);
    expect(set.active()).toEqual(['http://127.0.0.1:2']);
    set.unreachable('http://127.0.0.1:2');
    expect(set.active()).toEqual([]);
    now += 300;
    expect(set.active()).toEqual(['http://127.0.0.1:2']);
    set.seen('http://127.0.0.1:2');
    expect(set.penalize(id(1), 30)).toBe(false);
    expect(set.penalize(id(1), 30)).toBe(true);
    expect(set.isBanned(id(1))).toBe(true);
    expect(set.active()).toEqual([]);
    expect(set.isBanned(id(2))).toBe(false);
    now += 11 * 60_000;
    expect(set.isBanned(id(1))).toBe(false);
  });

  it('bounds the candidates a spray of identities can queue', () => {
    const set = new PeerSet('http://self:1', [], () => 0);
    let queued = 0;
    for (let i = 0; i < 100; i++) if (set.propose(`http://made-up${i}:1`)) queued++;
    expect(queued).toBe(MAX_CANDIDATES);
    expect(set.takeCandidates(3)).toEqual(['http://made-up0:1', 'http://made-up1:1', 'http://made-up2:1']);
    expect(set.candidateCount).toBe(MAX_CANDIDATES - 3);
  });

  it('makes room only by evicting learned peers that keep failing or are banned, never configured ones or coordinators', () => {
    const coordinator = id(0);
    const set = new PeerSet('http://self:1', ['http://configured:1'], () => 0, new Set([coordinator]));
    set.admit('http://configured:1', id(1));
    set.admit('http://coordinator:1', coordinator);
    for (let i = 0; set.list().length < MAX_PEERS; i++) set.admit(`http://learned${i}:1`, id(10 + i));
    expect(set.admit('http://newcomer:1', id(99))).toBe(false);
    for (let k = 0; k < 5; k++) {
      set.unreachable('http://configured:1');
      set.unreachable('http://coordinator:1');
    }
    expect(set.admit('http://newcomer:1', id(99))).toBe(false);
    set.penalize(id(10), 100);
    expect(set.admit('http://newcomer:1', id(99))).toBe(true);
    const urls = set.list().map((p) => p.url);
    expect(urls).toContain('http://configured:1');
    expect(urls).toContain('http://coordinator:1');
    expect(urls).not.toContain('http://learned0:1');
    // One identity holds one learned slot.
    expect(set.admit('http://second-url:1', id(99))).toBe(false);
  });
});
