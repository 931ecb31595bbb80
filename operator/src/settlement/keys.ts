// The operator's signing key for an account's commits, and the chain each account settles on.
//
//   sandbox           the controller generates an Ed25519 key pair on first use and keeps it in a Secret
//                     it creates, `<account>-operator-key` (data.secretKey: the 64-byte secret key). Create
//                     is conditional (AlreadyExists → read), so two processes can never end up with two keys.
//   testnet/mainnet   the Secret named by spec.walletSecretRef holds the wallet's 24-word mnemonic (key
//                     spec.walletSecretRef.key, default "mnemonic"); its key pair is the wallet key and the
//                     contract's operator key.
// Key material is only ever held in memory: never logged, never written to status, events or errors
// (errors name the Secret and the key, never the value).
//
// Which Secrets: only those labelled `chrysalis.dev/wallet: "true"`. A SettlementAccount names its Secret
// by name, and the operator can read Secrets in the namespace, so without this rule anyone who may create
// an account could point the operator at any Secret there (another application's credentials) and have it
// used as a wallet. An unlabelled Secret is refused before any of its data is looked at
// (WalletSecretNotLabelled, naming the label to add); the sandbox key Secret the operator creates carries
// the label, and one found without it is refused the same way.
//
// Sandbox state: spec.sandbox.stateDir is relative to `<root>/<namespace>/` and must stay strictly inside
// it: no absolute path, no '.' or '..' segment, no symbolic link on the way (each checked here; the CRD
// refuses the first two at admission too), so an account can neither reach outside the operator's state
// root nor into another namespace's chains.
import { randomBytes } from 'node:crypto';
import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { keyPairFromSecretKey, keyPairFromSeed, type KeyPair } from '@ton/crypto';
import type { SettlementAccount } from '../api/settlementaccount.js';
import type { KubeClient } from '../kube/kube-client.js';
import { Secrets, type KubeObject } from '../kube/resource.js';
import { isConflict } from '../kube/rest.js';
import { LABEL_PART_OF, LABEL_WALLET, LABEL_WALLET_VALUE, PART_OF_CHRYSALIS } from '../marks.js';
import type { SettlementChain } from './chain/chain.js';
import { SandboxChain, type SandboxChainOptions } from './chain/sandbox-chain.js';
import { keyPairFromMnemonic, TonClientChain } from './chain/ton-client-chain.js';

interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}


/**
 * A SettlementAccount whose spec (or the Secret it names) the operator cannot use as it stands; `reason` is
 * the Synced condition's reason and the message names the field and the fix. Never carries key material.
 */
export class AccountConfigError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = 'AccountConfigError';
  }
}

function assertWalletLabelled(secret: SecretLike, ns: string, name: string, field: string): void {
  if (secret.metadata?.labels?.[LABEL_WALLET] !== LABEL_WALLET_VALUE) {
    throw new AccountConfigError('WalletSecretNotLabelled',
      `${field}: Secret ${ns}/${name} is not labelled ${LABEL_WALLET}=${LABEL_WALLET_VALUE}; the operator uses only Secrets with that label as wallets. `
      + `If it is the wallet, label it: kubectl label secret -n ${ns} ${name} ${LABEL_WALLET}=${LABEL_WALLET_VALUE}`);
  }
}

export function operatorKeySecretName(account: string): string {
  return `${account.slice(0, 240)}-operator-key`;
}

/** The Secret an account's signing key comes from, read and checked, before anything in it is used. */
export interface OperatorKeySecret {
  secret: SecretLike;
  /** what identifies this version of the Secret (uid and resourceVersion): a cached key pair is reused only for the same */
  version: string;
}

/**
 * Reads the Secret holding the account's signing key and checks that it is labelled for Chrysalis (it is
 * read on every reconcile, so a label removed later stops its use). Creates the sandbox key Secret when
 * missing (needs a fenced client). Nothing of the Secret's data is looked at here.
 */
export async function operatorKeySecret(client: KubeClient, account: SettlementAccount): Promise<OperatorKeySecret> {
  const ns = account.metadata.namespace!;
  const name = account.metadata.name!;
  let secret: SecretLike | undefined;
  if (account.spec.network === 'sandbox') {
    const secretName = operatorKeySecretName(name);
    secret = await client.get<SecretLike>(Secrets, secretName, ns);
    if (!secret) {
      const keyPair = keyPairFromSeed(randomBytes(32));
      try {
        secret = await client.create<SecretLike>(Secrets, {
          apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
          metadata: { name: secretName, namespace: ns, labels: { [LABEL_PART_OF]: PART_OF_CHRYSALIS, [LABEL_WALLET]: LABEL_WALLET_VALUE } },
          data: { secretKey: keyPair.secretKey.toString('base64') },
        });
      } catch (err) {
        if (!isConflict(err)) throw err;
        secret = await client.get<SecretLike>(Secrets, secretName, ns);
      }
    }
    if (!secret) throw new AccountConfigError('WalletSecretNotFound', `operator key Secret ${ns}/${secretName} could not be created or read`);
    assertWalletLabelled(secret, ns, secretName, 'operator key Secret');
  } else {
    const ref = account.spec.walletSecretRef;
    if (!ref) throw new AccountConfigError('WalletSecretNotFound', `spec.walletSecretRef is required on ${account.spec.network}; name the Secret holding the wallet mnemonic`);
    secret = await client.get<SecretLike>(Secrets, ref.name, ns);
    if (!secret) {
      throw new AccountConfigError('WalletSecretNotFound', `spec.walletSecretRef: Secret ${ns}/${ref.name} does not exist; create it with the wallet mnemonic under data.${ref.key ?? 'mnemonic'} and the label ${LABEL_WALLET}=${LABEL_WALLET_VALUE}`);
    }
    assertWalletLabelled(secret, ns, ref.name, 'spec.walletSecretRef');
  }
  return { secret, version: `${secret.metadata?.uid ?? ''}/${secret.metadata?.resourceVersion ?? ''}` };
}

/** The signing key pair in a Secret that operatorKeySecret returned for the account. */
export async function keyPairFromSecret(account: SettlementAccount, { secret }: OperatorKeySecret): Promise<KeyPair> {
  const ns = account.metadata.namespace!;
  const secretName = secret.metadata?.name ?? '';
  if (account.spec.network === 'sandbox') {
    const raw = secret.data?.secretKey ? Buffer.from(secret.data.secretKey, 'base64') : undefined;
    if (!raw || raw.length !== 64) throw new AccountConfigError('WalletSecretInvalid', `operator key Secret ${ns}/${secretName}: data.secretKey must hold a 64-byte Ed25519 secret key`);
    return keyPairFromSecretKey(raw);
  }
  const key = account.spec.walletSecretRef?.key ?? 'mnemonic';
  const encoded = secret.data?.[key];
  if (!encoded) throw new AccountConfigError('WalletSecretInvalid', `spec.walletSecretRef: Secret ${ns}/${secretName} has no data.${key} (the wallet mnemonic)`);
  return keyPairFromMnemonic(Buffer.from(encoded, 'base64').toString('utf8'));
}

export interface ChainFactoryOptions {
  /** Root of the sandbox state directories; each account gets `<root>/<namespace>/<name>` unless spec.sandbox.stateDir says otherwise. */
  sandboxRoot: string;
  sandbox?: Omit<SandboxChainOptions, 'stateDir'>;
  /** Toncenter API key for live networks (optional). */
  apiKey?: string;
}

export const DEFAULT_SANDBOX_ROOT = process.env.CHRYSALIS_SANDBOX_DIR ?? '/var/lib/chrysalis/sandbox';

/**
 * The account's sandbox state directory: `<root>/<namespace>/<spec.sandbox.stateDir or name>`, checked to
 * lie strictly inside `<root>/<namespace>/` with no symbolic link on the way (AccountConfigError otherwise).
 */
export function sandboxStateDir(account: SettlementAccount, root: string): string {
  const ns = account.metadata.namespace!;
  const given = account.spec.sandbox?.stateDir;
  const relative = given ?? account.metadata.name!;
  const refuse = (why: string) => new AccountConfigError('InvalidStateDir',
    `spec.sandbox.stateDir ${given === undefined ? `(default "${relative}")` : `"${given}"`}: ${why}; give a relative directory such as "chain", kept under the operator's state root at <root>/${ns}/`);
  if (given !== undefined) {
    if (isAbsolute(given)) throw refuse('absolute paths are not allowed');
    if (given.includes('\0')) throw refuse('it contains a NUL character');
    if (given.split('/').some((seg) => seg === '.' || seg === '..')) throw refuse("'.' and '..' segments are not allowed");
  }
  // Resolve the root itself (it may legitimately be a link, e.g. to a volume), then walk down from it.
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    realRoot = resolve(root);
  }
  const base = join(realRoot, ns);
  const target = resolve(base, relative);
  if (!target.startsWith(base + sep)) throw refuse(`it resolves outside <root>/${ns}/`);
  let at = realRoot;
  for (const seg of target.slice(realRoot.length + 1).split(sep)) {
    at = join(at, seg);
    let isLink = false;
    try {
      isLink = lstatSync(at).isSymbolicLink();
    } catch {
      break; // does not exist yet: nothing below it can be a link; the chain creates it
    }
    if (isLink) throw refuse(`${at} is a symbolic link`);
  }
  return target;
}

/** Opens the chain an account settles on. */
export function openChain(account: SettlementAccount, keyPair: KeyPair, options: ChainFactoryOptions): SettlementChain {
  if (account.spec.network === 'sandbox') {
    return new SandboxChain({ ...options.sandbox, stateDir: sandboxStateDir(account, options.sandboxRoot) });
  }
  if (!account.spec.endpoint) throw new Error(`SettlementAccount ${account.metadata.namespace}/${account.metadata.name}: spec.endpoint is required on ${account.spec.network}`);
  return new TonClientChain({ network: account.spec.network, endpoint: account.spec.endpoint, apiKey: options.apiKey, keyPair });
}
