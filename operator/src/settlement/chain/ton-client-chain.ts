// A live network (testnet, mainnet) through @ton/ton's TonClient against a toncenter-compatible HTTP API.
// The operator's wallet (WalletContractV4, workchain 0) comes from the 24-word mnemonic in the Secret the
// SettlementAccount references; the same key pair signs commits (the contract's operator key is the
// wallet's public key). The mnemonic and the secret key stay inside this object: never logged, never in
// an error message (errors are rebuilt from the transport's code and status only).
import { mnemonicToPrivateKey, type KeyPair } from '@ton/crypto';
import { TonClient, WalletContractV4 } from '@ton/ton';
import type { Address, ContractProvider, StateInit } from '@ton/core';
import { EndpointUnreachableError, type ChainSession, type Network, type SettlementChain } from './chain.js';

export interface TonClientChainOptions {
  network: Exclude<Network, 'sandbox'>;
  endpoint: string;
  apiKey?: string;
  keyPair: KeyPair;
  timeoutMs?: number;
}

/** The wallet key pair of a mnemonic (words separated by whitespace). Throws without echoing the words. */
export async function keyPairFromMnemonic(mnemonic: string): Promise<KeyPair> {
  const words = mnemonic.trim().split(/\s+/);
  if (words.length !== 24) throw new RangeError(`the wallet mnemonic must have 24 words, it has ${words.length}`);
  try {
    return await mnemonicToPrivateKey(words);
  } catch {
    throw new RangeError('the wallet mnemonic could not be turned into a key');
  }
}

export class TonClientChain implements SettlementChain {
  readonly network: Exclude<Network, 'sandbox'>;
  private readonly client: TonClient;
  private readonly wallet: WalletContractV4;

  constructor(private readonly options: TonClientChainOptions) {
    this.network = options.network;
    this.client = new TonClient({ endpoint: options.endpoint, apiKey: options.apiKey, timeout: options.timeoutMs ?? 15_000 });
    this.wallet = WalletContractV4.create({ workchain: 0, publicKey: options.keyPair.publicKey });
  }

  get walletAddress(): Address { return this.wallet.address; }

  async run<T>(fn: (session: ChainSession) => Promise<T>): Promise<T> {
    const walletProvider = this.client.provider(this.wallet.address, this.wallet.init);
    const session: ChainSession = {
      provider: (address: Address, init?: StateInit | null): ContractProvider => this.client.provider(address, init),
      sender: () => this.wallet.sender(walletProvider, this.options.keyPair.secretKey),
      now: () => Math.floor(Date.now() / 1000),
    };
    try {
      return await fn(session);
    } catch (err) {
      throw sanitize(err, this.options.endpoint);
    }
  }

  async close(): Promise<void> {}
}

/** Transport failures become EndpointUnreachableError; nothing of a request body reaches the message. */
function sanitize(err: unknown, endpoint: string): Error {
  const e = err as { code?: string; response?: { status?: number }; isAxiosError?: boolean; message?: string };
  const status = e?.response?.status;
  if (e?.isAxiosError || e?.code === 'ECONNREFUSED' || e?.code === 'ECONNRESET' || e?.code === 'ETIMEDOUT' || e?.code === 'ECONNABORTED' || e?.code === 'ENOTFOUND') {
    if (status === undefined || status >= 500 || status === 429) {
      return new EndpointUnreachableError(`TON endpoint ${endpoint} did not answer${status ? ` (HTTP ${status})` : e.code ? ` (${e.code})` : ''}`);
    }
    return new Error(`TON endpoint ${endpoint} refused the request (HTTP ${status})`);
  }
  return err instanceof Error ? err : new Error(String(err));
}
