/**
 * The byzantine coordinators, as one omniscient coalition: it sees every block and every honest node's head,
 * reaches any node despite partitions, and breaks every rule an honest coordinator keeps. On each honest head it
 * votes with every member (double votes across forks, and now and then a surround vote from genesis), seals
 * children whenever Clique allows (ignoring any promise about heights), and where several honest nodes share a
 * head it may seal twin blocks at one height and show each half of them a different twin, with votes to match.
 */
import type { Address } from '../../../protocol/address.js';
import type { ChainSpec } from '../../spec.js';
import { mayPropose, recentWindow } from '../clique.js';
import { FinalityTracker, type Checkpoint, type Vote } from '../finality.js';
import type { VirtualClock } from './clock.js';
import type { Message, Network } from './network.js';
import { DUMMY_SIGNATURE, short, type SimNode } from './node.js';
import type { Rng } from './rng.js';
import type { BlockTree, SimBlock } from './tree.js';

export interface CoalitionMember {
  /** The network id it sends from (attached to no peer: it never needs to receive). */
  id: number;
  address: Address;
  clockOffsetMs: number;
}

export class Coalition {
  active = true;
  votes = 0;
  blocks = 0;
  private readonly tracker: FinalityTracker;
  private readonly voted = new Set<string>();
  private readonly sealedOn = new Set<string>();

  constructor(
    private readonly members: CoalitionMember[],
    private readonly honest: SimNode[],
    private readonly spec: ChainSpec,
    private readonly tree: BlockTree,
    private readonly clock: VirtualClock,
    private readonly net: Network,
    private readonly rng: Rng,
    private readonly log?: (line: string) => void,
  ) {
    this.tracker = new FinalityTracker(spec.coordinators, tree.genesis.hash);
    if (members.length > 0) this.clock.after(this.rng.int(0, spec.blockPeriodMs), () => this.tick());
  }

  /** Every vote anyone casts reaches the coalition. */
  observe(vote: Vote): void {
    this.tracker.add(vote);
  }

  private tick(): void {
    if (!this.active) return;
    const audiences = new Map<string, SimNode[]>();
    for (const n of this.honest) {
      if (!n.up) continue;
      const list = audiences.get(n.head.hash) ?? [];
      list.push(n);
      audiences.set(n.head.hash, list);
    }
    for (const [hash, audience] of audiences) {
      const head = this.tree.get(hash as SimBlock['hash'])!;
      for (const m of this.members) {
        this.vote(m, head, audience);
        this.seal(m, head, audience);
      }
    }
    this.clock.after(this.spec.blockPeriodMs / 2, () => this.tick());
  }

  private vote(m: CoalitionMember, target: SimBlock, audience: SimNode[]): void {
    const key = `${m.address}:${target.hash}`;
    if (target.header.height === 0n || this.voted.has(key)) return;
    this.voted.add(key);
    const justified = this.tracker.evaluate(this.tree.view(target))!.justified;
    const source: Checkpoint = this.rng.chance(0.15) ? { hash: this.tree.genesis.hash, height: 0n } : justified;
    if (source.height >= target.header.height) return;
    const vote: Vote = {
      voter: m.address,
      source,
      target: { hash: target.hash, height: target.header.height },
      signature: DUMMY_SIGNATURE,
    };
    this.tracker.add(vote);
    this.votes++;
    this.send(m, audience, { kind: 'vote', vote });
    this.log?.(
      `${(this.clock.now / 1000).toFixed(3).padStart(8)}s byz ${short(m.address)}: votes ${source.height} -> ${target.header.height} ${short(target.hash)} to ${audience.map((n) => n.name).join(',')}`,
    );
  }

  private seal(m: CoalitionMember, parent: SimBlock, audience: SimNode[]): void {
    const key = `${m.address}:${parent.hash}`;
    if (this.sealedOn.has(key)) return;
    const now = this.spec.genesisTimestamp + BigInt(Math.round(this.clock.now + m.clockOffsetMs));
    const recent = this.tree.recentProposers(parent.hash, recentWindow(this.spec));
    if (!mayPropose(this.spec, parent.header, m.address, recent, now)) return;
    this.sealedOn.add(key);
    const txs = audience[0]!.pendingTxs();
    const twins = audience.length >= 2 && this.rng.chance(0.5);
    const groups = twins ? splitHalves(this.rng.shuffle(audience)) : [audience];
    groups.forEach((group, variant) => {
      const block = this.tree.seal(parent, m.address, now, variant === 0 ? txs : txs.slice(1), variant + 1);
      this.blocks++;
      this.log?.(
        `${(this.clock.now / 1000).toFixed(3).padStart(8)}s byz ${short(m.address)}: seals ${block.header.height} ${short(block.hash)} to ${group.map((n) => n.name).join(',')}`,
      );
      this.send(m, group, { kind: 'block', block });
      for (const voter of this.members) this.vote(voter, block, group);
    });
  }

  private send(m: CoalitionMember, to: SimNode[], msg: Message): void {
    for (const n of to) this.net.inject(m.id, n.id, msg);
  }
}

function splitHalves<T>(items: T[]): T[][] {
  const mid = Math.ceil(items.length / 2);
  return [items.slice(0, mid), items.slice(mid)];
}
