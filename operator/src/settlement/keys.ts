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
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { keyPairFromSecretKey, keyPairFromSeed, type KeyPair } from '@ton/crypto';
import type { SettlementAccount } from '../api/settlementaccount.js';
import type { KubeClient } from '../kube/apply.js';
import { Secrets, type KubeObject } from '../kube/resource.js';
import { isConflict } from '../kube/rest.js';
import type { SettlementChain } from './chain/chain.js';
import { SandboxChain, type SandboxChainOptions } from './chain/sandbox-chain.js';
import { keyPairFromMnemonic, TonClientChain } from './chain/ton-client-chain.js';

interface SecretLike extends KubeObject {
  data?: Record<string, string>;
}

export function operatorKeySecretName(account: string): string {
  return `${account.slice(0, 240)}-operator-key`;
}

/** The account's signing key pair; creates the sandbox key Secret when missing (needs a fenced client). */
export async function operatorKeyPair(client: KubeClient, account: SettlementAccount): Promise<KeyPair> {
  const ns = account.metadata.namespace!;
  const name = account.metadata.name!;
  if (account.spec.network === 'sandbox') {
    const secretName = operatorKeySecretName(name);
    let secret = await client.get<SecretLike>(Secrets, secretName, ns);
    if (!secret) {
      const keyPair = keyPairFromSeed(randomBytes(32));
      try {
        secret = await client.create<SecretLike>(Secrets, {
          apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
          metadata: { name: secretName, namespace: ns, labels: { 'app.kubernetes.io/part-of': 'chrysalis' } },
          data: { secretKey: keyPair.secretKey.toString('base64') },
        });
      } catch (err) {
        if (!isConflict(err)) throw err;
        secret = await client.get<SecretLike>(Secrets, secretName, ns);
      }
    }
    const raw = secret?.data?.secretKey ? Buffer.from(secret.data.secretKey, 'base64') : undefined;
    if (!raw || raw.length !== 64) throw new Error(`Secret ${ns}/${secretName}: data.secretKey must hold a 64-byte Ed25519 secret key`);
    return keyPairFromSecretKey(raw);
  }
  const ref = account.spec.walletSecretRef;
  if (!ref) throw new Error(`SettlementAccount ${ns}/${name}: spec.walletSecretRef is required on ${account.spec.network}`);
  const key = ref.key ?? 'mnemonic';
  const secret = await client.get<SecretLike>(Secrets, ref.name, ns);
  const encoded = secret?.data?.[key];
  if (!encoded) throw new Error(`Secret ${ns}/${ref.name} has no data.${key} (the wallet mnemonic)`);
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

export function sandboxStateDir(account: SettlementAccount, root: string): string {
  return account.spec.sandbox?.stateDir ?? join(root, account.metadata.namespace!, account.metadata.name!);
}

/** Opens the chain an account settles on. */
export function openChain(account: SettlementAccount, keyPair: KeyPair, options: ChainFactoryOptions): SettlementChain {
  if (account.spec.network === 'sandbox') {
    return new SandboxChain({ ...options.sandbox, stateDir: sandboxStateDir(account, options.sandboxRoot) });
  }
  if (!account.spec.endpoint) throw new Error(`SettlementAccount ${account.metadata.namespace}/${account.metadata.name}: spec.endpoint is required on ${account.spec.network}`);
  return new TonClientChain({ network: account.spec.network, endpoint: account.spec.endpoint, apiKey: options.apiKey, keyPair });
}
