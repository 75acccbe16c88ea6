/**
 * Serving the model from this tab: it owns the room worker, so serving goes on while the user moves between pages,
 * and it stops with the session. It signs the worker's join with the signer it was started with (the wallet's key
 * stays in the page). Elements read `state` and listen for `change`.
 */
import type { BackendChoice, MiningBackend } from '../browser-miner/protocol.js';
import type { JoinSigner } from './join-signer.js';
import type { ContributorState, PageToRoomWorker, RoomWorkerToPage } from './room-protocol.js';

const LOG_LINES = 200;
/** How long a stopping worker may take to close its channel cleanly before it is terminated. */
const STOP_GRACE_MS = 2_000;

export interface ServeState {
  /** `running`: the worker is up (connecting, in the room, loading or serving); `failed`: it could not serve. */
  phase: 'idle' | 'running' | 'failed';
  model: string | undefined;
  maxLayers: number | undefined;
  backend: BackendChoice;
  device: { backend: MiningBackend; description: string } | undefined;
  /** The join was sent: the node has this contributor in its room. */
  joined: boolean;
  /** The contributor's own state (span, forward passes answered, the node's closing reason); kept after it stops. */
  contributor: ContributorState | undefined;
  /** The user stopped it (a closed channel is then no surprise). */
  stopped: boolean;
  problem: string | undefined;
  log: string[];
}

export class RoomController extends EventTarget {
  state: ServeState = {
    phase: 'idle',
    model: undefined,
    maxLayers: undefined,
    backend: 'auto',
    device: undefined,
    joined: false,
    contributor: undefined,
    stopped: false,
    problem: undefined,
    log: [],
  };
  private worker: Worker | undefined;

  private update(patch: Partial<ServeState>): void {
    this.state = { ...this.state, ...patch };
    this.dispatchEvent(new Event('change'));
  }

  /** Joins `model`'s room holding at most `maxLayers` layers; `sign` signs the join with the wallet's key. */
  start(model: string, maxLayers: number, sign: JoinSigner): void {
    this.terminate();
    this.update({
      phase: 'running',
      model,
      maxLayers,
      device: undefined,
      joined: false,
      contributor: undefined,
      stopped: false,
      problem: undefined,
    });
    const worker = new Worker(new URL('./room-worker.ts', import.meta.url), { type: 'module', name: 'ailo-room' });
    worker.onmessage = (e: MessageEvent<RoomWorkerToPage>) => {
      const m = e.data;
      if (m.type === 'ready')
        worker.postMessage({ type: 'start', model, maxLayers, backend: this.state.backend } satisfies PageToRoomWorker);
      else if (m.type === 'sign-join')
        void sign(m.coordinator).then(
          (body) => worker.postMessage({ type: 'join-signed', id: m.id, body } satisfies PageToRoomWorker),
          (err: Error) => worker.postMessage({ type: 'join-signed', id: m.id, error: err.message } satisfies PageToRoomWorker),
        );
      else this.onWorker(worker, m);
    };
    worker.onerror = (e) => this.fail(`the serving worker crashed: ${e.message || 'unknown error'}`);
    this.worker = worker;
  }

  /**
   * Leaves the room: the worker closes its channel (the node moves the span to a standby), then ends. `now`: the tab
   * is going away, so the worker ends at once and the browser drops the channel without a closing handshake.
   */
  stop(now = false): void {
    const worker = this.worker;
    if (!worker) return;
    this.update({ stopped: true });
    if (now) return this.finish();
    worker.postMessage({ type: 'stop' } satisfies PageToRoomWorker);
    setTimeout(() => {
      if (this.worker === worker) this.finish();
    }, STOP_GRACE_MS);
  }

  setBackend(backend: BackendChoice): void {
    this.update({ backend });
  }

  private terminate(): void {
    this.worker?.terminate();
    this.worker = undefined;
  }

  private finish(): void {
    this.terminate();
    if (this.state.phase === 'running') this.update({ phase: 'idle' });
  }

  private fail(message: string): void {
    this.terminate();
    this.update({ phase: 'failed', problem: message });
    this.addLog(message);
  }

  private addLog(line: string): void {
    this.update({ log: [...this.state.log, `${new Date().toLocaleTimeString()} ${line}`].slice(-LOG_LINES) });
  }

  private onWorker(worker: Worker, m: RoomWorkerToPage): void {
    if (worker !== this.worker) return;
    switch (m.type) {
      case 'device':
        this.update({ device: { backend: m.backend, description: m.description } });
        this.addLog(`serving with ${m.description}`);
        break;
      case 'joined':
        this.update({ joined: true });
        this.addLog(`joined the room of ${this.state.model} (at most ${this.state.maxLayers} layers)`);
        break;
      case 'state':
        this.update({ contributor: m.state });
        // The channel closed (stopped, removed by the node, or the node went away): the worker has nothing left to do.
        if (m.state.phase === 'closed') {
          if (m.state.closing) this.addLog(`the node closed the channel: ${m.state.closing.code}: ${m.state.closing.message}`);
          this.finish();
        }
        break;
      case 'log':
        this.addLog(m.line);
        break;
      case 'failed':
        this.fail(m.message);
        break;
      case 'ready':
      case 'sign-join':
        break;
    }
  }
}

export const roomController = new RoomController();
// Closing or leaving the tab ends the worker, and with it the room channel.
globalThis.addEventListener?.('pagehide', () => roomController.stop(true));
