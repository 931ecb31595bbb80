// `chrysalis settlement status [ACCOUNT]` and `chrysalis settlement claim --payee ADDR [--account NS/NAME]`.
//
// status: the SettlementAccounts (one, the namespace's, or -A) as the operator last read them from chain:
//   balance, metered vs committed vs paid, last confirmed epoch, pending commit, conditions.
//   Exit 0: every account is Synced, funded and reachable; 1: one is not; 2: unusable input.
// claim: builds the payee's Merkle proof from the leaves the operator stored for the epoch the chain
//   shows and sends the claim. Sandbox: through the account's sandbox state directory (shared safely with
//   the operator; --sandbox-dir is the operator's state root, under which it lies). Testnet/mainnet: the
//   claim's gas is paid by the wallet whose 24-word mnemonic is in --mnemonic-file or
//   $CHRYSALIS_WALLET_MNEMONIC (never printed). The money always goes to the payee's own address.
//   Exit 0: paid (or nothing left to claim); 1: the contract refused (e.g. underfunded); 2: unusable input.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { Address } from '@ton/core';
import type { SettlementAccount } from '../../../operator/src/api/settlementaccount.js';
import { KubeClient } from '../../../operator/src/kube/kube-client.js';
import { NO_FENCE } from '../../../operator/src/kube/leader-election.js';
import { RestClient } from '../../../operator/src/kube/rest.js';
import type { SettlementChain } from '../../../operator/src/settlement/chain/chain.js';
import { payeeKey } from '../../../operator/src/settlement/entitlements.js';
import { SettlementAccounts } from '../../../operator/src/kube/chrysalis-resources.js';
import { connect, UsageError, type Cluster } from '../kube.js';
import { age } from '../views/age.js';
import { colour, health } from '../views/colour.js';
import { asList, formatData, outputOption, type OutputFormat } from '../views/output.js';
import { renderTable } from '../views/table.js';

function cond(a: SettlementAccount, type: string): string | undefined {
  return a.status?.conditions?.find((c) => c.type === type)?.status;
}

/** True when the account needs attention: not Synced, Underfunded, or its endpoint unreachable. */
export function accountUnhealthy(a: SettlementAccount): boolean {
  return cond(a, 'Synced') !== 'True' || cond(a, 'Underfunded') === 'True' || cond(a, 'EndpointUnreachable') === 'True';
}

function ton(nanoton: string | undefined): string {
  if (!nanoton) return '';
  const n = BigInt(nanoton);
  const whole = n / 1_000_000_000n;
  const frac = (n % 1_000_000_000n).toString().padStart(9, '0').slice(0, 3);
  return `${whole}.${frac} TON`;
}

export function settlementTable(accounts: readonly SettlementAccount[], now = new Date()): string {
  if (accounts.length === 0) return 'No SettlementAccounts found.\n';
  const rows = accounts.map((a) => {
    const t = a.status?.totals ?? {};
    const synced = cond(a, 'Synced');
    return [
      `${a.metadata.namespace}/${a.metadata.name}`,
      a.spec.network,
      ton(a.status?.balanceNanoton),
      t.metered ?? '0',
      t.committed ?? '0',
      t.paid ?? '0',
      a.status?.lastConfirmed?.epoch !== undefined ? String(a.status.lastConfirmed.epoch) : '',
      a.status?.pending ? `epoch ${a.status.pending.epoch}` : '',
      health(synced === 'True' ? 'yes' : 'no', synced === 'True'),
      cond(a, 'Underfunded') === 'True' ? colour.red('yes') : 'no',
      cond(a, 'EndpointUnreachable') === 'True' ? colour.red('unreachable') : 'ok',
      age(a.metadata.creationTimestamp as unknown as string | undefined, now),
    ];
  });
  return renderTable(['account', 'network', 'balance', 'metered', 'committed', 'paid', 'epoch', 'pending', 'synced', 'underfunded', 'endpoint', 'age'], rows);
}

/** `NAME` (in -n / the context namespace) or `NAMESPACE/NAME`. */
function accountRef(cluster: Cluster, text: string, flag: string): { namespace: string; name: string } {
  const parts = text.split('/');
  const ok = (s: string | undefined) => s !== undefined && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s);
  if (parts.length === 1 && ok(parts[0])) return { namespace: cluster.namespace, name: parts[0]! };
  if (parts.length === 2 && ok(parts[0]) && ok(parts[1])) return { namespace: parts[0]!, name: parts[1]! };
  throw new UsageError(`${flag}: ${JSON.stringify(text)} is not NAME or NAMESPACE/NAME of a SettlementAccount`);
}

interface StatusFlags { output: OutputFormat }
interface ClaimFlags { payee?: string; account?: string; sandboxDir?: string; mnemonicFile?: string; output: OutputFormat }

async function status(cluster: Cluster, account: string | undefined, flags: StatusFlags): Promise<number> {
  let accounts: SettlementAccount[];
  if (account) {
    const ref = accountRef(cluster, account, 'ACCOUNT');
    accounts = [await cluster.get<SettlementAccount>(SettlementAccounts, ref.name, ref.namespace)];
  } else {
    accounts = await cluster.list<SettlementAccount>(SettlementAccounts);
    accounts.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  }
  process.stdout.write(flags.output === 'table' ? settlementTable(accounts) : formatData(account ? accounts[0] : asList(accounts), flags.output));
  return accounts.some(accountUnhealthy) ? 1 : 0;
}

// The chain modules (@ton/sandbox, @ton/ton, the Tolk compiler) are loaded only by `claim`, so every
// other command starts fast.
const DEFAULT_SANDBOX_ROOT = process.env.CHRYSALIS_SANDBOX_DIR ?? '/var/lib/chrysalis/sandbox';

async function openClaimChain(account: SettlementAccount, flags: ClaimFlags): Promise<SettlementChain> {
  const { sandboxStateDir } = await import('../../../operator/src/settlement/keys.js');
  const { SandboxChain } = await import('../../../operator/src/settlement/chain/sandbox-chain.js');
  const { keyPairFromMnemonic, TonClientChain } = await import('../../../operator/src/settlement/chain/ton-client-chain.js');
  if (account.spec.network === 'sandbox') {
    return new SandboxChain({ stateDir: sandboxStateDir(account, flags.sandboxDir ?? DEFAULT_SANDBOX_ROOT) });
  }
  let mnemonic = process.env.CHRYSALIS_WALLET_MNEMONIC;
  if (flags.mnemonicFile) {
    try {
      mnemonic = readFileSync(flags.mnemonicFile, 'utf8');
    } catch {
      throw new UsageError(`--mnemonic-file: cannot read ${flags.mnemonicFile}`);
    }
  }
  if (!mnemonic) throw new UsageError(`claiming on ${account.spec.network} needs a wallet to pay the gas: pass --mnemonic-file FILE or set CHRYSALIS_WALLET_MNEMONIC`);
  let keyPair;
  try {
    keyPair = await keyPairFromMnemonic(mnemonic);
  } catch (err) {
    throw new UsageError(`wallet mnemonic: ${(err as Error).message}`);
  }
  return new TonClientChain({ network: account.spec.network, endpoint: account.spec.endpoint!, keyPair });
}

async function claim(cluster: Cluster, flags: ClaimFlags): Promise<number> {
  if (!flags.payee) throw new UsageError('--payee ADDR is required (the payout address to claim for)');
  let payee: bigint;
  try {
    payee = payeeKey(Address.parse(flags.payee));
  } catch (err) {
    throw new UsageError(`--payee: ${err instanceof RangeError ? err.message : `${JSON.stringify(flags.payee)} is not a TON address`}`);
  }
  let ref: { namespace: string; name: string };
  if (flags.account) {
    ref = accountRef(cluster, flags.account, '--account');
  } else {
    const all = await cluster.list<SettlementAccount>(SettlementAccounts);
    if (all.length !== 1) throw new UsageError(`--account NS/NAME is required: ${all.length} SettlementAccounts in namespace ${cluster.namespace}`);
    ref = { namespace: all[0]!.metadata.namespace!, name: all[0]!.metadata.name! };
  }
  const account = await cluster.get<SettlementAccount>(SettlementAccounts, ref.name, ref.namespace);
  const { claimFor, committedLeaves } = await import('../../../operator/src/settlement/claims.js');
  const rest = new RestClient(cluster.kc, { userAgent: 'chrysalis-cli' });
  const chain = await openClaimChain(account, flags);
  try {
    const committed = await committedLeaves(new KubeClient(rest, NO_FENCE), chain, account);
    if (!committed) throw new UsageError(`nothing is committed on chain for ${ref.namespace}/${ref.name} yet`);
    if (!committed.stored.leaves.has(payee)) throw new UsageError(`--payee: ${flags.payee} has no entitlement in epoch ${committed.stored.epoch} of ${ref.namespace}/${ref.name}`);
    const r = await claimFor(chain, committed, payee);
    const out = {
      account: `${ref.namespace}/${ref.name}`, epoch: committed.stored.epoch.toString(), payee: r.payee,
      entitledUnits: r.entitled.toString(), paidBefore: r.paidBefore.toString(), paidAfter: r.paidAfter.toString(), outcome: r.outcome,
    };
    if (flags.output !== 'table') process.stdout.write(formatData(out, flags.output));
    else {
      process.stdout.write(renderTable(['account', 'epoch', 'payee', 'entitled', 'paid before', 'paid after', 'outcome'],
        [[out.account, out.epoch, out.payee, out.entitledUnits, out.paidBefore, out.paidAfter, r.outcome === 'failed' ? colour.red(r.outcome) : r.outcome]]));
    }
    return r.outcome === 'failed' ? 1 : 0;
  } finally {
    await chain.close();
    rest.close();
  }
}

export function registerSettlementCommand(program: Command): void {
  const settlement = program
    .command('settlement')
    .summary('settlement accounts: balances, committed vs paid, claims')
    .description('Settlement on TON: account status as last read from chain, and claims with Merkle proofs.');
  settlement
    .command('status [account]')
    .summary('balance, metered/committed/paid and conditions of SettlementAccounts')
    .description('Show SettlementAccounts (ACCOUNT is NAME or NAMESPACE/NAME): balance, metered vs committed vs paid units, last confirmed epoch, pending commit, Synced/Underfunded/EndpointUnreachable.\nExit 0: all synced, funded and reachable; 1: one is not; 2: unusable input.')
    .addOption(outputOption())
    .action(async (account: string | undefined, flags: StatusFlags, command: Command) => {
      const cluster = connect(command);
      try {
        process.exitCode = await status(cluster, account, flags);
      } finally {
        cluster.close();
      }
    });
  settlement
    .command('claim')
    .summary('claim a payee\'s committed entitlement (builds the Merkle proof, sends the claim)')
    .description('Build the payee\'s Merkle proof from the stored leaves of the epoch on chain and send the claim; the payout goes to the payee\'s address.\nExit 0: paid or nothing to claim; 1: refused by the contract; 2: unusable input.')
    .option('--payee <address>', 'the payout address (basechain) to claim for')
    .option('--account <ns/name>', 'the SettlementAccount (default: the only one in the namespace)')
    .option('--sandbox-dir <dir>', `root of sandbox state directories (default $CHRYSALIS_SANDBOX_DIR or ${DEFAULT_SANDBOX_ROOT})`)
    .option('--mnemonic-file <file>', 'testnet/mainnet: file with the 24-word mnemonic of the wallet paying the gas (or $CHRYSALIS_WALLET_MNEMONIC)')
    .addOption(outputOption())
    .action(async (flags: ClaimFlags, command: Command) => {
      const cluster = connect(command);
      try {
        process.exitCode = await claim(cluster, flags);
      } finally {
        cluster.close();
      }
    });
}
