/**
 * The miner's GUI: a Koa server on 127.0.0.1 only, serving the miner page (wallet-ui/dist/miner.html, the wallet
 * UI's components) and a small API over the running miner: its state, a stream of changes (server-sent events),
 * settings that apply without a restart, and the log as a file. Requests must name this server as their Host (no DNS
 * rebinding) and a settings change must come from this origin, so no other web page can drive the miner.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import { NO_RETRY, NodeClient } from '../../protocol/client.js';
import { deviceName, sameDevice, type Miner } from '../../trainer/miner/miner.js';
import type {
  GuiSettings,
  MinerDevice,
  NativeDevice,
  MinerStateView,
  MinerStatus,
  RoundView,
  SubmissionRecord,
} from '../../trainer/miner/status.js';
import type { GpuOption } from '../../trainer/miner/provider-choice.js';
import { readJsonBody } from '../api/body.js';
import { ApiError, badRequest } from '../api/errors.js';
import { answerClientErrors, createApp } from '../api/server.js';
import { NODE_VERSION } from '../api/status-routes.js';
import { serveWalletUi, WALLET_UI_DIST } from '../api/static.js';
import type { MinerMonitor, MonitorEvent } from './monitor.js';

export const POWER_RANGE = { min: 20, max: 90 } as const;

export interface MinerGuiOptions {
  miner: Miner;
  monitor: MinerMonitor;
  /** The GPUs found at start; settings choose among these (or the CPU). */
  gpus: GpuOption[];
  nodeUrl: string;
  wallet: string;
  cacheDir: string;
  /** 0 picks a free port. */
  port: number;
  dist?: string;
  /** How often the node's round is polled for the dashboard. */
  roundPollMs?: number;
}

export class MinerGui {
  private server: Server | undefined;
  /** The device choice; the power is the miner's own (`miner.settings`). */
  private readonly choice: Omit<GuiSettings, 'power'>;
  private round: { value: RoundView | null; error: string | null } = { value: null, error: null };
  private roundTimer: ReturnType<typeof setInterval> | undefined;
  private readonly streams = new Set<PassThrough>();
  private readonly startedAt = Date.now();
  private port = 0;

  constructor(private readonly o: MinerGuiOptions) {
    const { device } = o.miner.settings;
    const current = o.gpus.find((g) => sameDevice(g.device, device));
    this.choice = { useCpu: device.provider === 'cpu', gpu: current?.id ?? o.gpus[0]?.id ?? null };
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<string> {
    const app = createApp(
      (router) => this.routes(router),
      (line) => this.o.monitor.log(`gui: ${line}`, 'error'),
    );
    app.use(serveWalletUi(this.o.dist ?? WALLET_UI_DIST, 'miner.html'));
    const server = createServer(app.callback());
    answerClientErrors(server);
    // Idle keep-alive sockets stay open longer than clients keep them (undici: 4 s), so a client never sends a request
    // on a socket the server is closing (ECONNRESET), even when a training step holds the event loop for seconds.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    this.server = server;
    const listen = (port: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    try {
      await listen(this.o.port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || this.o.port === 0) throw err;
      this.o.monitor.log(`port ${this.o.port} is taken (another miner?); the GUI takes a free port instead`, 'warn');
      await listen(0);
    }
    this.port = (server.address() as AddressInfo).port;
    await this.pollRound();
    this.roundTimer = setInterval(() => void this.pollRound(), this.o.roundPollMs ?? 5_000);
    this.roundTimer.unref();
    return this.url;
  }

  async stop(): Promise<void> {
    clearInterval(this.roundTimer);
    for (const s of this.streams) s.end();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Only this server's own names: a page on another site that resolves its name to 127.0.0.1 is refused. */
  private checkHost = async (ctx: Context, next: Next): Promise<void> => {
    const allowed = [`127.0.0.1:${this.port}`, `localhost:${this.port}`];
    if (!allowed.includes(ctx.get('host'))) throw new ApiError(403, 'WRONG_HOST', `this is the miner's local GUI; open it as ${this.url}`);
    await next();
  };

  private routes(router: Router): void {
    router.use('/api/miner', this.checkHost);
    router.get('/api/miner/state', (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = this.state();
    });
    router.get('/api/miner/events', (ctx) => this.events(ctx));
    router.put('/api/miner/settings', async (ctx) => {
      const origin = ctx.get('origin');
      if (origin && !(origin === `http://127.0.0.1:${this.port}` || origin === `http://localhost:${this.port}`)) {
        throw new ApiError(403, 'WRONG_ORIGIN', `settings may be changed only from the miner's own page, not from ${origin}`);
      }
      this.applySettings(await readJsonBody(ctx, 4096));
      // Without the log and history: the page has them from its event stream, which also brings this change's log line.
      ctx.body = this.state(false);
    });
    router.get('/api/miner/logs', (ctx) => {
      const format = ctx.query.format ?? 'text';
      if (format !== 'text' && format !== 'jsonl') throw badRequest('BAD_FORMAT', `format must be text or jsonl, got ${String(format)}`);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      ctx.set('Content-Disposition', `attachment; filename="ailo-miner-${stamp}.${format === 'text' ? 'log' : 'jsonl'}"`);
      ctx.set('Cache-Control', 'no-store');
      ctx.type = format === 'text' ? 'text/plain; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
      ctx.body = this.o.monitor.exportLogs(format);
    });
  }

  private applySettings(body: Record<string, unknown>): void {
    for (const key of Object.keys(body)) {
      if (key !== 'power' && key !== 'useCpu' && key !== 'gpu')
        throw badRequest('UNKNOWN_SETTING', `no setting "${key}" (settings: power, useCpu, gpu)`);
    }
    const next = { ...this.choice };
    let power = this.o.miner.settings.power;
    if (body.power !== undefined) {
      const p = body.power;
      if (typeof p !== 'number' || !Number.isInteger(p) || p < POWER_RANGE.min || p > POWER_RANGE.max) {
        throw badRequest('BAD_POWER', `power must be an integer from ${POWER_RANGE.min} to ${POWER_RANGE.max}, got ${JSON.stringify(p)}`);
      }
      power = p;
    }
    if (body.useCpu !== undefined) {
      if (typeof body.useCpu !== 'boolean')
        throw badRequest('BAD_USE_CPU', `useCpu must be true or false, got ${JSON.stringify(body.useCpu)}`);
      next.useCpu = body.useCpu;
    }
    if (body.gpu !== undefined) {
      if (typeof body.gpu !== 'string' || !this.o.gpus.some((g) => g.id === body.gpu)) {
        throw badRequest(
          'UNKNOWN_GPU',
          `no GPU ${JSON.stringify(body.gpu)} here (GPUs: ${this.o.gpus.map((g) => g.id).join(', ') || 'none'})`,
        );
      }
      next.gpu = body.gpu;
    }
    if (!next.useCpu && next.gpu === null)
      throw new ApiError(409, 'NO_GPU', 'this machine has no GPU the miner can train on, so it trains on the CPU');
    Object.assign(this.choice, next);
    this.o.miner.setPower(power);
    this.o.miner.setDevice(this.chosenDevice());
    this.o.monitor.statusChanged();
  }

  private chosenDevice(): NativeDevice {
    if (this.choice.useCpu) return { provider: 'cpu' };
    return this.o.gpus.find((g) => g.id === this.choice.gpu)!.device;
  }

  private async pollRound(): Promise<void> {
    try {
      const r = await new NodeClient(this.o.nodeUrl.replace(/\/+$/, '')).json<RoundView>(
        '/api/round',
        {},
        { retry: NO_RETRY, timeoutMs: 3_000, what: 'round' },
      );
      this.round = { value: { version: r.version, accepted: r.accepted, roundSize: r.roundSize, deadline: r.deadline }, error: null };
    } catch (err) {
      this.round = { value: this.round.value, error: `the node did not answer (${(err as Error).message})` };
    }
    this.o.monitor.statusChanged();
  }

  private label(d: MinerDevice): string {
    return d.provider === 'cpu' ? 'CPU' : (this.o.gpus.find((g) => sameDevice(g.device, d))?.label ?? deviceName(d));
  }

  /** Everything the page shows (the log and history only with `full`); amounts are decimal strings of base units. */
  state(full = true): MinerStateView {
    const { miner, monitor } = this.o;
    const s = miner.status;
    const summary = miner.summary;
    const { power, device: next } = miner.settings;
    const current = s.device ?? next;
    return {
      status: { ...statusView(s, current), deviceLabel: this.label(current) },
      settings: {
        power,
        ...this.choice,
        nextDevice: deviceName(next),
        nextDeviceLabel: this.label(next),
        pending: !sameDevice(next, current),
      },
      gpus: this.o.gpus.map((g) => ({ id: g.id, label: g.label })),
      powerRange: POWER_RANGE,
      totals: {
        tasks: summary.tasks,
        accepted: summary.accepted.length,
        rejected: summary.rejections.length,
        earned: summary.earned.toString(),
        tokens: summary.tokens,
        rounds: new Set(summary.accepted.map((r) => r.modelVersion)).size,
        confirmed: summary.accepted.filter((r) => r.ledger.status === 'confirmed').length,
      },
      submissions: summary.accepted.slice(-50).map(submissionView).reverse(),
      rejections: summary.rejections.slice(-50).reverse(),
      round: this.round.value,
      roundError: this.round.error,
      history: full ? monitor.points.slice(-2000) : undefined,
      logs: full ? monitor.logs.slice(-500) : undefined,
      about: {
        version: NODE_VERSION,
        node: this.o.nodeUrl,
        wallet: this.o.wallet,
        cache: this.o.cacheDir,
        startedAt: this.startedAt,
        runtime: `Node.js ${process.versions.node}, ${process.platform}/${process.arch}`,
        links: [
          { label: 'Wallet and dashboard on the node', href: new URL('/dashboard', this.o.nodeUrl).href },
          { label: 'Your account on the ledger', href: new URL(`/api/ledger/account/${this.o.wallet}`, this.o.nodeUrl).href },
          { label: 'The current model version', href: new URL('/api/model', this.o.nodeUrl).href },
          { label: 'The round in progress', href: new URL('/api/round', this.o.nodeUrl).href },
        ],
      },
    };
  }

  /** Server-sent events: `state` with the whole state when status or settings change (at most 4 a second), `log` and `point` as they come. */
  private events(ctx: Context): void {
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.type = 'text/event-stream';
    const stream = new PassThrough();
    this.streams.add(stream);
    const send = (event: string, data: unknown): void => {
      stream.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let stateTimer: ReturnType<typeof setTimeout> | undefined;
    const onEvent = (e: MonitorEvent): void => {
      if (e.type === 'log') send('log', e.entry);
      else if (e.type === 'point') send('point', e.point);
      stateTimer ??= setTimeout(() => {
        stateTimer = undefined;
        send('state', this.state(false));
      }, 250);
    };
    const unsubscribe = this.o.monitor.subscribe(onEvent);
    const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), 15_000);
    const close = (): void => {
      unsubscribe();
      clearInterval(heartbeat);
      clearTimeout(stateTimer);
      this.streams.delete(stream);
      stream.end();
    };
    ctx.req.once('close', close);
    stream.once('close', close);
    ctx.status = 200;
    ctx.body = stream;
    send('state', this.state());
  }
}

function statusView(s: MinerStatus, device: MinerDevice): Omit<MinerStateView['status'], 'deviceLabel'> {
  return { ...s, device: deviceName(device), earned: s.earned.toString() };
}

function submissionView(r: SubmissionRecord): MinerStateView['submissions'][number] {
  return {
    ...r,
    reward: r.reward.toString(),
    ledger: r.ledger.status,
    ledgerDetail: 'detail' in r.ledger ? r.ledger.detail : `block ${r.ledger.height}`,
  };
}
