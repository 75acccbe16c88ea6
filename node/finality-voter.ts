/**
 * A coordinator's finality votes (Casper FFG, chain/consensus/finality.ts): whenever its head or what it knows of
 * justification changes, it votes on its head from the highest justified checkpoint, once the chain has written
 * its promise (Chain.voteOnHead), and gossips the vote.
 */
import type { Address } from '../protocol/address.js';
import type { Chain } from '../chain/chain.js';

export class FinalityVoter {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private busy = false;
  private again = false;
  private unsubscribe: (() => void)[] = [];

  constructor(
    private readonly chain: Chain,
    private readonly key: Uint8Array,
    readonly address: Address,
    private readonly send: (vote: Uint8Array) => void,
    private readonly log: (line: string) => void,
    /** While this says so (e.g. during a sync), the vote waits: the head is about to move. */
    private readonly paused: () => boolean = () => false,
  ) {}

  start(): void {
    this.running = true;
    const schedule = (): void => this.schedule();
    this.unsubscribe = [this.chain.onBlock(schedule), this.chain.onRollback(schedule), this.chain.onFinality(schedule)];
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.unsubscribe.forEach((u) => u());
    while (this.busy) await new Promise((r) => setTimeout(r, 5));
  }

  private schedule(delayMs = 0): void {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.vote(), delayMs);
  }

  private async vote(): Promise<void> {
    if (!this.running) return;
    if (this.paused()) return this.schedule(100);
    this.busy = true;
    this.again = false;
    try {
      const vote = await this.chain.voteOnHead(this.key, this.address);
      if (vote) this.send(vote);
    } catch (err) {
      this.log(`finality vote failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
    if (this.again) this.schedule();
  }
}
