/** A running Ailo node: data folder, chain, ledger, block producer (on a coordinator) and the HTTP API. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Chain } from '../chain/chain.js';
import { genesisBlock } from '../chain/genesis-block.js';
import { WorkerPoolVerifier } from '../chain/crypto/recover-pool.js';
import { ChainStore } from '../chain/store/chain-store.js';
import { accountRoutes } from './accounts/account-routes.js';
import { AccountVault } from './accounts/vault.js';
import { chainRoutes } from './api/chain-routes.js';
import { ledgerRoutes } from './api/ledger-routes.js';
import { answerClientErrors, createApp } from './api/server.js';
import { serveWalletUi } from './api/static.js';
import { statusRoutes } from './api/status-routes.js';
import { BlockProducer } from './block-producer.js';
import { federationRoutes } from './federation/routes.js';
import { FederationService, type FederationConfig } from './federation/service.js';
import { ModelReplica } from './federation/model-replica.js';
import { ModelStore } from './federation/model-store.js';
import { LIVE_MS, RoundSchedule } from './federation/round-schedule.js';
import { prepareDataDir, type DataDirOptions, type PreparedDataDir } from './data-dir.js';
import { LedgerService } from './ledger-service.js';
import { NetworkStats } from './network-stats.js';
import { p2pRoutes, type GossipLimits } from './api/p2p-routes.js';
import { RequestAuthenticator } from './p2p/authenticator.js';
import { NodeIdentity } from './p2p/envelope.js';
import { PeerNetwork } from './p2p/network.js';
import { FinalityVoter } from './finality-voter.js';
import { EvidenceReporter } from './p2p/evidence-reporter.js';
import { privateKeyToAddress, randomPrivateKey } from '../protocol/signature.js';
import { PeerSet } from './p2p/peer-set.js';
import { forwardedRoundRoutes, RoundForwarder } from './p2p/round-forward.js';
import { opsRoutes } from './api/ops-routes.js';
import { inferenceRoutes } from './inference/routes.js';
import { InferenceService, type InferenceConfig } from './inference/service.js';
import { NodeMetrics } from './metrics.js';
import { replayPoolJournal, savePoolJournal } from './pool-journal.js';

/** The pending transactions a graceful stop leaves for the next start, in the data folder. */
const POOL_JOURNAL = 'pool-journal.json';
import { createLogger, type Logger } from './log.js';

export const DEFAULT_PORT = 8645;

export interface NodeOptions extends DataDirOptions {
  host: string;
  port: number;
  log?: (line: string) => void;
  /** Structured logger for warnings and errors (default: text at info level). */
  logger?: Logger;
  /** Peer node URLs to sync and gossip with. */
  peers?: string[];
  /** The URL peers reach this node at (default: the listening address). */
  publicUrl?: string;
  /** Gossip rate limits per sender (default DEFAULT_GOSSIP_LIMITS). */
  gossipLimits?: GossipLimits;
  /** Run federated training rounds (coordinators only); fields override DEFAULT_FEDERATION. */
  federation?: Partial<FederationConfig>;
  /** Inference rooms and chat (coordinators running rounds); fields override DEFAULT_INFERENCE. */
  inference?: Partial<InferenceConfig>;
  /** GPT-2-family checkpoints (safetensors) served in inference rooms of their own, beside the network's model. */
  inferenceModels?: { id: string; file: string }[];
  /** This node's clock in ms (default Date.now): block times, and peer message times. Tests set one that is off. */
  now?: () => number;
}

export class AiloNode {
  private constructor(
    readonly prepared: PreparedDataDir,
    readonly chain: Chain,
    readonly ledger: LedgerService,
    readonly stats: NetworkStats,
    readonly producer: BlockProducer | undefined,
    private readonly server: Server,
    private readonly verifier: WorkerPoolVerifier,
    readonly vault: AccountVault,
    readonly network: PeerNetwork,
    readonly federation?: FederationService,
    private readonly voter?: FinalityVoter,
    readonly replica?: ModelReplica,
    readonly inference?: InferenceService,
  ) {}

  static async start(o: NodeOptions): Promise<AiloNode> {
    const logger = o.logger ?? createLogger('info', 'text');
    const log = o.log ?? ((line: string) => logger.info(line));
    const warn = o.log ?? ((line: string) => logger.warn(line));
    const prepared = prepareDataDir(o);
    prepared.notes.forEach(log);
    // Whatever opened before a failure is closed again, newest first, so a failed start leaves no lock or thread behind.
    const opened: (() => Promise<void>)[] = [];
    const closeOpened = async (): Promise<void> => {
      for (const close of opened.reverse()) await close().catch(() => undefined);
    };
    try {
      const verifier = new WorkerPoolVerifier();
      opened.push(() => verifier.close());
      const store = await ChainStore.open(prepared.chainDir);
      opened.push(() => store.close());
      const now = o.now ?? Date.now;
      const chain = await Chain.open(store, prepared.spec, prepared.genesisText, { verifier, now: () => BigInt(now()) });
      const ledger = new LedgerService(chain, verifier, warn);
      const vault = await AccountVault.open(join(o.data, 'accounts'));
      opened.push(() => vault.close());
      const stats = new NetworkStats();
      // Every coordinator of a training network keeps the model chain and recomputes each version before taking it
      // (model-replica.ts), issues tasks and verifies what it accepts; the live coordinators take turns closing rounds
      // (round-schedule.ts). A follower forwards the round routes to a live coordinator.
      let network: PeerNetwork | undefined;
      let producer: BlockProducer | undefined;
      let selfUrl: string | undefined;
      let federation: FederationService | undefined;
      const replica =
        prepared.coordinator && o.federation
          ? new ModelReplica({
              store: new ModelStore(join(o.data, 'federation')),
              ledger,
              network: () => network,
              key: prepared.coordinator.key,
              coordinator: prepared.coordinator.address,
              keepVersions: Number(prepared.spec.rewards.maxStaleness),
              log,
              onChecked: () => producer?.nudge(),
              maxUpdateBytes: () => federation?.maxUpdateBytes(),
            })
          : undefined;
      const schedule = new RoundSchedule(
        prepared.spec.coordinators,
        prepared.coordinator?.address,
        (c) => network?.peers.heardFrom(c, LIVE_MS) ?? false,
        (c) => chain.convicted().has(c),
        (c) => (c === prepared.coordinator?.address ? selfUrl : network?.peers.urlOf(c)),
      );
      replica?.start();
      if (replica) opened.push(() => replica.stop());
      federation =
        prepared.coordinator && replica
          ? await FederationService.start({
              dataDir: o.data,
              ledger,
              stats,
              key: prepared.coordinator.key,
              coordinator: prepared.coordinator.address,
              config: o.federation,
              log,
              schedule,
              foreignUpdate: (c) => replica.update(c),
            })
          : undefined;
      if (federation) opened.push(() => federation.stop());
      const inference =
        federation && prepared.coordinator
          ? new InferenceService(federation, ledger, prepared.coordinator.key, prepared.coordinator.address, o.inference, log)
          : undefined;
      if (inference) opened.push(async () => inference.stop());
      for (const m of o.inferenceModels ?? []) {
        if (!inference) throw new Error(`--serve-model ${m.id}: only a coordinator running training rounds serves inference rooms`);
        await inference.importModel(m.id, m.file, o.data);
      }
      // `network` is created once the server knows its own address; no request reaches the routes before that.
      const metrics = new NodeMetrics(chain, {
        ledger,
        network: () => network,
        round: federation ? () => federation.roundStatus() : undefined,
      });
      const app = createApp((router) => {
        statusRoutes(router, {
          networkName: prepared.networkName,
          ledger,
          stats,
          coordinator: prepared.coordinator?.address,
          peers: () => network?.peers.reachable(60_000) ?? 0,
        });
        p2pRoutes(router, chain, () => network!, o.gossipLimits);
        opsRoutes(router, { chain, metrics, network: () => network });
        ledgerRoutes(router, ledger);
        chainRoutes(router, chain, prepared.genesisText);
        if (federation) federationRoutes(router, federation, (name) => inference?.importedChunkPath(name));
        if (inference) inferenceRoutes(router, inference, vault);
        else if (o.federation) forwardedRoundRoutes(router, new RoundForwarder(schedule, () => network!));
        accountRoutes(router, vault);
      }, log);
      // The page and its miner may call the network's coordinators: where the miner goes on when this node stops.
      app.use(serveWalletUi(undefined, undefined, () => schedule.directory().flatMap((c) => (c.url ? [c.url] : []))));
      const server = await new Promise<Server>((resolve, reject) => {
        const s = app.listen(o.port, o.host, () => resolve(s));
        s.once('error', reject);
      }).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EADDRINUSE' ? new Error(`port ${o.port} on ${o.host} is in use; pick another with --port`) : err;
      });
      answerClientErrors(server);
      inference?.attach(server);
      server.requestTimeout = 30_000;
      server.headersTimeout = 10_000;
      const address = server.address() as AddressInfo;
      const self = o.publicUrl ?? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      const origin = new URL(self).origin;
      // Where miners can reach this coordinator (GET /api/round): not an unspecified address (0.0.0.0, ::).
      selfUrl = o.publicUrl || !/^(0\.0\.0\.0|::|\[::\])$/.test(o.host) ? origin : undefined;
      const domain = genesisBlock(prepared.spec).block.hash;
      network = new PeerNetwork(
        chain,
        ledger,
        new PeerSet(origin, o.peers ?? [], now, new Set(prepared.spec.coordinators)),
        new NodeIdentity(prepared.nodeKey.key, origin, domain, now),
        new RequestAuthenticator(domain, origin, verifier, now),
        log,
      );
      network.start();
      // What was pending when the node last stopped, now that peers can hear of it again.
      await replayPoolJournal(join(o.data, POOL_JOURNAL), ledger, log);
      inference?.resumeFeeWatch(join(o.data, 'inference', 'unconfirmed-fees.json'));
      producer = prepared.coordinator
        ? new BlockProducer(
            ledger,
            prepared.coordinator.key,
            prepared.coordinator.address,
            { warn, error: o.log ?? ((line) => logger.error(line)) },
            undefined,
            () => network?.isSyncing ?? false,
            now,
            replica ? (tx) => replica.admissible(tx) : undefined,
          )
        : undefined;
      producer?.start();
      const net = network;
      const voter = prepared.coordinator
        ? new FinalityVoter(
            chain,
            prepared.coordinator.key,
            prepared.coordinator.address,
            (vote) => net.broadcastVote(vote),
            warn,
            () => net.isSyncing,
          )
        : undefined;
      voter?.start();
      // Equivocation this node witnesses becomes an `equivocation` transaction, signed with its coordinator key or,
      // on a follower, a throwaway key (a report needs no funds).
      const reporterKey = prepared.coordinator?.key ?? randomPrivateKey();
      const evidence = new EvidenceReporter(ledger, reporterKey, privateKeyToAddress(reporterKey), warn);
      net.onConflict = (c) => evidence.votes(c.a, c.b);
      net.onBlockSeen = (block) => evidence.block(block);
      chain.onBlock((block) => evidence.block(block));
      return new AiloNode(
        prepared,
        chain,
        ledger,
        stats,
        producer,
        server,
        verifier,
        vault,
        network,
        federation,
        voter,
        replica,
        inference,
      );
    } catch (err) {
      await closeOpened();
      throw err;
    }
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /**
   * Stops the node: services settle what they owe first (inference escrows are checked and paid), then the pending
   * transactions are journaled for the next start (pool-journal.ts), then the stores close.
   */
  async stop(): Promise<void> {
    await this.voter?.stop();
    await this.network.stop();
    await this.inference?.stop();
    await this.federation?.stop();
    await this.replica?.stop();
    await this.producer?.stop();
    savePoolJournal(join(this.prepared.dataDir, POOL_JOURNAL), this.ledger.pool.take(Number.MAX_SAFE_INTEGER));
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.chain.store.close();
    await this.verifier.close();
    await this.vault.close();
  }
}
