/**
 * The miner GUI's server on loopback, over a real (idle) Miner: the state it reports, settings that reach the miner
 * and are refused with a named error when wrong, Host and Origin checks, the log export, the event stream, and the
 * page itself served with the wallet UI's CSP.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Miner } from '../../trainer/miner/miner.js';
import type { GpuOption } from '../../trainer/miner/provider-choice.js';
import { WALLET_UI_CSP } from '../api/static.js';
import { MinerGui } from './gui-server.js';
import type { MinerStateView } from '../../trainer/miner/status.js';
import { MinerMonitor } from './monitor.js';

const WALLET = '0x00000000000000000000000000000000000000A1';
/** These miners are never run, so they never ask for a task. */
const notSigning = (): Promise<never> => Promise.reject(new Error('this test miner asks for no tasks'));
const GPUS: GpuOption[] = [
  { id: 'cuda:0', label: 'Test GPU 0', device: { provider: 'cuda', deviceId: 0 } },
  { id: 'cuda:1', label: 'Test GPU 1', device: { provider: 'cuda', deviceId: 1 } },
];

/** A raw request, so Host and Origin can be set to anything. */
function call(
  port: number,
  o: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

describe('miner GUI server', () => {
  let root: string;
  let monitor: MinerMonitor;
  let miner: Miner;
  let gui: MinerGui;
  let port: number;
  const put = (body: unknown, headers: Record<string, string> = {}) =>
    call(port, {
      method: 'PUT',
      path: '/api/miner/settings',
      body: JSON.stringify(body),
      headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/json', origin: `http://127.0.0.1:${port}`, ...headers },
    });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ailo-miner-gui-'));
    const dist = join(root, 'dist');
    mkdirSync(dist);
    writeFileSync(join(dist, 'miner.html'), '<!doctype html><title>Ailo Miner</title><ailo-miner-app></ailo-miner-app>');
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Ailo Wallet</title>');
    monitor = new MinerMonitor();
    // Not run: the GUI only reads and sets it. The node URL is never called except for the round, which fails.
    miner = new Miner({
      wallet: WALLET,
      signTaskRequest: notSigning,
      nodeUrl: 'http://127.0.0.1:9',
      provider: 'cuda',
      deviceId: 0,
      power: 60,
      cacheDir: join(root, 'cache'),
      log: (l) => monitor.log(l),
    });
    gui = new MinerGui({
      miner,
      monitor,
      gpus: GPUS,
      nodeUrl: 'http://127.0.0.1:9',
      wallet: WALLET,
      cacheDir: join(root, 'cache'),
      port: 0,
      dist,
    });
    const url = await gui.start();
    port = Number(new URL(url).port);
  });
  afterAll(async () => {
    await gui?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('reports the miner, its settings, the GPUs and what the node said about the round', async () => {
    const r = await call(port, { path: '/api/miner/state', headers: { host: `127.0.0.1:${port}` } });
    expect(r.status).toBe(200);
    const s = JSON.parse(r.body) as MinerStateView;
    expect(s.status).toMatchObject({ phase: 'starting', device: 'cuda:0', deviceLabel: 'Test GPU 0', power: 60, earned: '0' });
    expect(s.settings).toEqual({
      power: 60,
      useCpu: false,
      gpu: 'cuda:0',
      nextDevice: 'cuda:0',
      nextDeviceLabel: 'Test GPU 0',
      pending: false,
    });
    expect(s.gpus.map((g) => g.id)).toEqual(['cuda:0', 'cuda:1']);
    expect(s.round).toBeNull();
    expect(s.roundError).toMatch(/the node did not answer/);
    expect(s.about).toMatchObject({ wallet: WALLET, node: 'http://127.0.0.1:9' });
  });

  it('applies power at once and the device from the next task, and says so in the log', async () => {
    let r = await put({ power: 25 });
    expect(r.status).toBe(200);
    expect(miner.settings.power).toBe(25);
    expect(miner.status.power).toBe(25);
    r = await put({ gpu: 'cuda:1' });
    expect(miner.settings.device).toEqual({ provider: 'cuda', deviceId: 1 });
    let s = JSON.parse(r.body) as MinerStateView;
    expect(s.settings).toMatchObject({ gpu: 'cuda:1', nextDevice: 'cuda:1', pending: true });
    r = await put({ useCpu: true });
    expect(miner.settings.device).toEqual({ provider: 'cpu' });
    s = JSON.parse(r.body) as MinerStateView;
    expect(s.settings).toMatchObject({ useCpu: true, gpu: 'cuda:1', nextDeviceLabel: 'CPU', pending: true });
    r = await put({ useCpu: false });
    expect(miner.settings.device).toEqual({ provider: 'cuda', deviceId: 1 });
    expect(monitor.logs.map((e) => e.text)).toEqual(
      expect.arrayContaining(['power set to 25%', 'device set to cuda:1', 'device set to cpu']),
    );
  });

  it('refuses bad settings with a named error and changes nothing', async () => {
    const before = miner.settings;
    const cases: [unknown, number, string][] = [
      [{ power: 95 }, 400, 'BAD_POWER'],
      [{ power: 19 }, 400, 'BAD_POWER'],
      [{ power: 50.5 }, 400, 'BAD_POWER'],
      [{ power: '50' }, 400, 'BAD_POWER'],
      [{ useCpu: 'yes' }, 400, 'BAD_USE_CPU'],
      [{ gpu: 'cuda:7' }, 400, 'UNKNOWN_GPU'],
      [{ power: 40, gpu: 'nope' }, 400, 'UNKNOWN_GPU'],
      [{ turbo: true }, 400, 'UNKNOWN_SETTING'],
      [[1, 2], 400, 'BAD_JSON'],
    ];
    for (const [body, status, code] of cases) {
      const r = await put(body);
      expect([r.status, (JSON.parse(r.body) as { error: { code: string } }).error.code], JSON.stringify(body)).toEqual([status, code]);
    }
    const form = await call(port, {
      method: 'PUT',
      path: '/api/miner/settings',
      body: 'power=40',
      headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(miner.settings).toEqual(before);
  });

  it('answers only requests made to its own name, and takes settings only from its own page', async () => {
    const rebound = await call(port, { path: '/api/miner/state', headers: { host: `attacker.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('WRONG_HOST');
    expect((await call(port, { path: '/api/miner/state', headers: { host: `localhost:${port}` } })).status).toBe(200);
    const before = miner.settings.power;
    const foreign = await put({ power: 80 }, { origin: 'http://attacker.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('WRONG_ORIGIN');
    expect(miner.settings.power).toBe(before);
  });

  it('exports the whole log as text or JSON lines', async () => {
    monitor.log('a warning for the export', 'warn');
    const text = await call(port, { path: '/api/miner/logs?format=text', headers: { host: `127.0.0.1:${port}` } });
    expect(text.status).toBe(200);
    expect(text.headers['content-disposition']).toMatch(/^attachment; filename="ailo-miner-.*\.log"$/);
    expect(text.body).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z warn  a warning for the export$/m);
    const jsonl = await call(port, { path: '/api/miner/logs?format=jsonl', headers: { host: `127.0.0.1:${port}` } });
    const lines = jsonl.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: string; text: string });
    expect(lines.at(-1)).toMatchObject({ level: 'warn', text: 'a warning for the export' });
    expect(lines.length).toBe(monitor.logs.length);
    const bad = await call(port, { path: '/api/miner/logs?format=pdf', headers: { host: `127.0.0.1:${port}` } });
    expect([bad.status, bad.body]).toEqual([400, expect.stringContaining('BAD_FORMAT')]);
  });

  it('streams the state, then log lines, history points and state changes', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/miner/events`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const until = async (what: RegExp): Promise<void> => {
      while (!what.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    await until(/event: state\ndata: .*\n\n/);
    expect(text).toContain('"history":[]');
    monitor.point({
      at: Date.now(),
      modelVersion: 3,
      taskId: '0xabc',
      step: 1,
      loss: 7.5,
      tokensPerSecond: 900,
      device: 'cuda:1',
      power: 25,
    });
    monitor.log('a line for the stream');
    await until(/event: point\ndata: \{[^\n]*"loss":7\.5[^\n]*\n\n[\s\S]*event: log\ndata: [^\n]*a line for the stream/);
    await until(/event: state[\s\S]*event: state\ndata: /);
    await reader.cancel();
  });

  it('on a machine with no GPU, keeps the miner on the CPU and says why', async () => {
    const cpuOnly = new Miner({
      wallet: WALLET,
      signTaskRequest: notSigning,
      nodeUrl: 'http://127.0.0.1:9',
      provider: 'cpu',
      power: 50,
      cacheDir: join(root, 'cache'),
    });
    const bare = new MinerGui({
      miner: cpuOnly,
      monitor: new MinerMonitor(),
      gpus: [],
      nodeUrl: 'http://127.0.0.1:9',
      wallet: WALLET,
      cacheDir: join(root, 'cache'),
      port: 0,
      dist: join(root, 'dist'),
    });
    const p = Number(new URL(await bare.start()).port);
    try {
      expect(bare.state().settings).toMatchObject({ useCpu: true, gpu: null, pending: false });
      const r = await call(p, {
        method: 'PUT',
        path: '/api/miner/settings',
        body: JSON.stringify({ useCpu: false }),
        headers: { host: `127.0.0.1:${p}`, 'content-type': 'application/json' },
      });
      expect([r.status, r.body]).toEqual([409, expect.stringContaining('NO_GPU')]);
      expect(cpuOnly.settings.device).toEqual({ provider: 'cpu' });
    } finally {
      await bare.stop();
    }
  });

  it('serves the miner page, not the wallet, at every page path, with the CSP', async () => {
    for (const path of ['/', '/settings', '/logs']) {
      const r = await call(port, { path, headers: { host: `127.0.0.1:${port}` } });
      expect(r.status).toBe(200);
      expect(r.body).toContain('<title>Ailo Miner</title>');
      expect(r.headers['content-security-policy']).toBe(WALLET_UI_CSP);
    }
  });
});
