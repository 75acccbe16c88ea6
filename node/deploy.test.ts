/** The deployment files: docker-compose.yml must validate (Debian's docker-compose, no engine needed) and name the network's services. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const composeBinary = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find(existsSync);

describe('docker-compose.yml', () => {
  it.skipIf(!composeBinary)('validates and runs three coordinators, a follower and a miner', () => {
    const services = execFileSync(composeBinary!, ['-f', 'docker-compose.yml', 'config', '--services'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .sort();
    expect(services).toEqual(['c1', 'c2', 'c3', 'follower', 'miner']);
  });

  it('starts what exists in the repository', () => {
    const compose = readFileSync('docker-compose.yml', 'utf8');
    for (const entry of compose.matchAll(/"((?:node|trainer)\/[\w/-]+\.ts)"/g)) expect(existsSync(entry[1]!), entry[1]).toBe(true);
    expect(readFileSync('Dockerfile', 'utf8')).toMatch(/^FROM node:20/m);
  });
});
