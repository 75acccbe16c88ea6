/**
 * POST /api/task on a real node, attacked: someone who does not hold VICTIM's key tries to use up VICTIM's task slots
 * with unsigned requests, requests signed by their own key naming VICTIM, replays of VICTIM's own signed request and
 * stale ones. Each is refused by name and changes nothing: VICTIM still gets every one of its slots.
 */
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toChecksumAddress } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import { wallet } from '../../chain/test/fixtures.js';
import { eip712Domain } from '../../chain/tx/eip712.js';
import type { SignedTaskRequestBody } from '../../protocol/federation.js';
import { signTaskRequest, TASK_REQUEST_TYPES } from '../../chain/tx/task-request.js';
import { AiloNode } from '../node.js';
import { CHAIN_ID, post, startTestNode, testNet, type TestNet, coordinator } from '../test/harness.js';

const FED = { batchSize: 4, seqLen: 32, steps: 8, lr: 3e-3, roundSize: 100, roundMs: 600_000, tasksPerWallet: 4 };
const victim = wallet(321);
const attacker = wallet(322);
const VICTIM = toChecksumAddress(victim.address);
const MINUTE = 60_000;

describe('task requests must be signed by the wallet', () => {
  let net: TestNet;
  let node: AiloNode;

  beforeAll(async () => {
    net = testNet(50);
    node = await startTestNode(net, undefined, { federation: FED });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    net?.remove();
  });

  const ask = (body: unknown): Promise<{ status: number; json: any }> => post(`${node.url}/api/task`, body);
  /** The wallet's open tasks on the node. */
  const openTasks = (): number => node.federation!.roundStatus().openTasks;

  it("refuses every way of asking for VICTIM's tasks without VICTIM's key, and VICTIM still gets all 4 slots", async () => {
    const theirs = signTaskRequest(attacker.key, net.network, coordinator.address);
    // The attacker signs typed data that names VICTIM, as a browser wallet would sign it.
    const attackerWallet = new Wallet(toHex(attacker.key));
    const naming = {
      wallet: VICTIM,
      coordinator: coordinator.address,
      issuedAt: BigInt(Date.now()),
      nonce: toHex(crypto.getRandomValues(new Uint8Array(32))),
    };
    const namingVictim: SignedTaskRequestBody = {
      wallet: VICTIM,
      coordinator: coordinator.address,
      issuedAt: naming.issuedAt.toString(),
      nonce: naming.nonce,
      signature: await attackerWallet.signTypedData(
        eip712Domain(net.network),
        { TaskRequest: [...TASK_REQUEST_TYPES.TaskRequest] },
        naming,
      ),
    };
    const attacks: [string, unknown, number, string, RegExp][] = [
      ['the old unsigned form', { wallet: VICTIM }, 400, 'UNSIGNED_TASK_REQUEST', /must be signed.*signature.*EIP-712/],
      ["the seed's unsigned form", { username: VICTIM }, 400, 'UNSIGNED_TASK_REQUEST', /must be signed/],
      ["the attacker's signed request with VICTIM put in", { ...theirs, wallet: VICTIM }, 403, 'BAD_TASK_SIGNATURE', /not signed by 0x/],
      [
        'typed data naming VICTIM signed by the attacker',
        namingVictim,
        403,
        'BAD_TASK_SIGNATURE',
        new RegExp(`recovers to ${attacker.address}`),
      ],
      [
        "VICTIM's request signed for another chain",
        signTaskRequest(victim.key, { ...net.network, chainId: CHAIN_ID + 1n }, coordinator.address),
        403,
        'BAD_TASK_SIGNATURE',
        /chainId 777, genesis 0x/,
      ],
      [
        "VICTIM's request signed for another genesis",
        signTaskRequest(victim.key, { ...net.network, genesisHash: `0x${'11'.repeat(32)}` }, coordinator.address),
        403,
        'BAD_TASK_SIGNATURE',
        /for this network/,
      ],
      [
        "a stale request of VICTIM's",
        signTaskRequest(victim.key, net.network, coordinator.address, Date.now() - 3 * MINUTE),
        400,
        'STALE_TASK_REQUEST',
        /s old.*check this computer's clock/,
      ],
      [
        "a request of VICTIM's from the future",
        signTaskRequest(victim.key, net.network, coordinator.address, Date.now() + 3 * MINUTE),
        400,
        'STALE_TASK_REQUEST',
        /in the future/,
      ],
      [
        'the largest issuedAt',
        { ...signTaskRequest(victim.key, net.network, coordinator.address), issuedAt: ((1n << 64n) - 1n).toString() },
        400,
        'STALE_TASK_REQUEST',
        /18446744073709551615 ms/,
      ],
      [
        'a malformed nonce',
        { ...signTaskRequest(victim.key, net.network, coordinator.address), nonce: '0x1234' },
        400,
        'BAD_TASK_REQUEST',
        /nonce must be/,
      ],
      [
        'a malformed signature',
        { ...signTaskRequest(victim.key, net.network, coordinator.address), signature: '0xzz' },
        400,
        'BAD_TASK_REQUEST',
        /signature must be/,
      ],
      [
        'a number for issuedAt',
        { ...signTaskRequest(victim.key, net.network, coordinator.address), issuedAt: Date.now() },
        400,
        'BAD_TASK_REQUEST',
        /issuedAt must be/,
      ],
      [
        'a malformed wallet',
        { ...signTaskRequest(victim.key, net.network, coordinator.address), wallet: '0x1234' },
        400,
        'BAD_TASK_REQUEST',
        /wallet must be/,
      ],
    ];
    for (let round = 0; round < 4; round++) {
      for (const [what, body, status, code, message] of attacks) {
        const r = await ask(body);
        expect([r.status, r.json.error?.code], what).toEqual([status, code]);
        expect(r.json.error.message, what).toMatch(message);
      }
    }
    expect(openTasks()).toBe(0);

    // VICTIM's real request, replayed by whoever saw it: one task, then refusals.
    const real = signTaskRequest(victim.key, net.network, coordinator.address);
    const first = await ask(real);
    expect(first.status).toBe(201);
    expect(first.json.wallet).toBe(VICTIM);
    for (let i = 0; i < 4; i++) {
      const again = await ask(real);
      expect([again.status, again.json.error?.code]).toEqual([409, 'REPLAYED_TASK_REQUEST']);
      expect(again.json.error.message).toMatch(/already used; sign a new request/);
    }
    expect(openTasks()).toBe(1);

    // The same request sent twice at once is honoured once.
    const racing = signTaskRequest(victim.key, net.network, coordinator.address);
    const both = await Promise.all([ask(racing), ask(racing)]);
    expect(both.map((r) => r.status).sort()).toEqual([201, 409]);

    // VICTIM's remaining slots are all there.
    const rest = await Promise.all([0, 1].map(() => ask(signTaskRequest(victim.key, net.network, coordinator.address))));
    expect(rest.map((r) => r.status)).toEqual([201, 201]);
    expect(rest.every((r) => r.json.wallet === VICTIM)).toBe(true);
    expect(openTasks()).toBe(4);
    const full = signTaskRequest(victim.key, net.network, coordinator.address);
    const fifth = await ask(full);
    expect([fifth.status, fifth.json.error?.code]).toEqual([429, 'TOO_MANY_TASKS']);

    // A refusal changed nothing, not even the nonce: once a slot is free, the same signed request still gets it.
    const freed = await fetch(`${node.url}/api/task/${first.json.taskId}?wallet=${VICTIM}`, { method: 'DELETE' });
    expect(freed.status).toBe(200);
    expect((await ask(full)).status).toBe(201);
    expect((await ask(full)).json.error?.code).toBe('REPLAYED_TASK_REQUEST');
  });

  it('accepts a request signed by an EIP-712 wallet (ethers signTypedData, as eth_signTypedData_v4)', async () => {
    const w = new Wallet(toHex(wallet(323).key));
    const message = {
      wallet: w.address,
      coordinator: coordinator.address,
      issuedAt: BigInt(Date.now()),
      nonce: toHex(crypto.getRandomValues(new Uint8Array(32))),
    };
    const signature = await w.signTypedData(eip712Domain(net.network), { TaskRequest: [...TASK_REQUEST_TYPES.TaskRequest] }, message);
    const r = await ask({ ...message, issuedAt: message.issuedAt.toString(), signature });
    expect([r.status, r.json.wallet]).toEqual([201, w.address]);
  });
});
