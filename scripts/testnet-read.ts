// Reads a deployed settlement contract on TON testnet through TonClient: the same `readContract` the
// operator uses, against a live endpoint. Not part of `npm test` (tests talk to 127.0.0.1 only).
//
//   CHRYSALIS_TESTNET_ENDPOINT=https://testnet.toncenter.com/api/v2/jsonRPC \
//   CHRYSALIS_TESTNET_CONTRACT=EQ... [CHRYSALIS_TESTNET_API_KEY=...] npm run testnet-read
import { Address } from '@ton/core';
import { mnemonicNew } from '@ton/crypto';
import { readContract } from '../operator/src/settlement/chain/chain.js';
import { keyPairFromMnemonic, TonClientChain } from '../operator/src/settlement/chain/ton-client-chain.js';

const endpoint = process.env.CHRYSALIS_TESTNET_ENDPOINT;
const contract = process.env.CHRYSALIS_TESTNET_CONTRACT;
if (!endpoint || !contract) {
  console.error('set CHRYSALIS_TESTNET_ENDPOINT (a toncenter jsonRPC URL) and CHRYSALIS_TESTNET_CONTRACT (the settlement contract address)');
  process.exit(2);
}
// Reading needs no funds: a throwaway key unless a mnemonic is given.
const words = process.env.CHRYSALIS_TESTNET_MNEMONIC?.split(/\s+/) ?? await mnemonicNew(24);
const chain = new TonClientChain({ network: 'testnet', endpoint, apiKey: process.env.CHRYSALIS_TESTNET_API_KEY, keyPair: await keyPairFromMnemonic(words.join(' ')) });
const view = await chain.run((s) => readContract(s, Address.parse(contract)));
if (!view.deployed) {
  console.error(`no contract deployed at ${contract} on testnet`);
  process.exit(1);
}
console.log(`seqno ${view.seqno}, epoch ${view.committed.epoch}, committed ${view.committed.totalUnits}, paid ${view.committed.paidTotal}`);
