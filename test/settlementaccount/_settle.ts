// Drives the settlement reconciler by hand against a fake chain clock. Not a test file.
import type { Address } from '@ton/core';
import { SettlementReconciler, type SettlementReconcilerDeps } from '../../operator/src/controllers/settlementaccount/reconciler.js';
import { readContract, type ContractView } from '../../operator/src/settlement/chain/chain.js';
import { SandboxChain } from '../../operator/src/settlement/chain/sandbox-chain.js';
import { Settlement } from '../../operator/src/settlement/contract/Settlement.js';
import { accountKey, getAccount, listProviderNodes, type Env } from './_env.js';

export class Clock {
  constructor(public now = 1_750_000_000) {}
  advance(seconds: number): void { this.now += seconds; }
  fn = (): number => this.now;
}

export function sandboxOf(env: Env, clock: Clock, hooks?: ConstructorParameters<typeof SandboxChain>[0]['hooks']): SandboxChain {
  return new SandboxChain({ stateDir: env.stateDir, clock: clock.fn, ...(hooks ? { hooks } : {}) });
}

export function reconcilerOf(env: Env, clock: Clock, extra: Partial<SettlementReconcilerDeps> = {}): SettlementReconciler {
  return new SettlementReconciler({
    client: env.client, events: env.events,
    listProviderNodes: () => listProviderNodes(env),
    openChain: () => sandboxOf(env, clock),
    ...extra,
  });
}

/** Reconciles (advancing the clock by each requeue) until nothing is pending and the chain has `want` units. */
export async function settle(env: Env, reconciler: SettlementReconciler, clock: Clock, want: bigint, maxSteps = 30): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    const r = await reconciler.reconcile(accountKey(env));
    const acct = await getAccount(env);
    if (!acct.status?.pending && acct.status?.totals?.committed === want.toString()) return;
    clock.advance(Math.max(1, Math.ceil((r.requeueAfterMs ?? 1000) / 1000)));
  }
  const acct = await getAccount(env);
  throw new Error(`not settled after ${maxSteps} reconciles: ${JSON.stringify(acct.status)}`);
}

export async function chainView(env: Env, clock: Clock): Promise<ContractView> {
  const acct = await getAccount(env);
  const chain = sandboxOf(env, clock);
  try {
    const { Address } = await import('@ton/core');
    return await chain.run((s) => readContract(s, Address.parse(acct.status!.contractAddress!)));
  } finally {
    await chain.close();
  }
}

export async function paidUnits(env: Env, clock: Clock, address: Address, payees: bigint[]): Promise<bigint[]> {
  const chain = sandboxOf(env, clock);
  try {
    return await chain.run(async (s) => {
      const c = Settlement.createFromAddress(address);
      const out: bigint[] = [];
      for (const p of payees) out.push(await c.getPaidUnits(s.provider(address), p));
      return out;
    });
  } finally {
    await chain.close();
  }
}

export async function balances(env: Env, clock: Clock, addresses: Address[]): Promise<bigint[]> {
  const chain = sandboxOf(env, clock);
  try {
    return await chain.run(async (s) => {
      const out: bigint[] = [];
      for (const a of addresses) out.push((await s.provider(a).getState()).balance);
      return out;
    });
  } finally {
    await chain.close();
  }
}
