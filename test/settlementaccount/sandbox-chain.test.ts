import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyPairFromSeed } from '@ton/crypto';
import { toNano } from '@ton/core';
import { ensureDeployed, readContract } from '../../operator/src/settlement/chain/chain.js';
import { SandboxChain } from '../../operator/src/settlement/chain/sandbox-chain.js';
import { Settlement } from '../../operator/src/settlement/contract/Settlement.js';
import { buildEntitlements } from '../../operator/src/settlement/entitlements.js';

function stateDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-sandbox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const operator = keyPairFromSeed(Buffer.alloc(32, 3));
const deploy = { operatorPublicKey: operator.publicKey, pricePerUnit: 1000n, commissionBps: 0, value: toNano('10') };

test('a sandbox chain reopened from its state directory keeps the deployed contract, its balance and its commits', async (t) => {
  const dir = stateDir(t);
  let now = 1_750_000_000;
  const a = new SandboxChain({ stateDir: dir, clock: () => now });
  const address = await a.run((s) => ensureDeployed(s, deploy));
  const e = buildEntitlements(new Map([[5n, 10n]]));
  await a.run((s) => Settlement.createFromAddress(address).sendCommit(s.provider(address), {
    secretKey: operator.secretKey, seqno: 0, validUntil: now + 60, epoch: 1n, root: e.root, totalUnits: e.total,
  }));
  const before = await a.run((s) => readContract(s, address));
  await a.close();
  now += 5;
  const b = new SandboxChain({ stateDir: dir, clock: () => now });
  const after = await b.run((s) => readContract(s, address));
  t.true(after.deployed);
  t.is(after.seqno, 1);
  t.is(after.committed.root, e.root);
  t.is(after.balance, before.balance);
  t.true(after.balance > toNano('9'));
  // Deploying again is a no-op at the same deterministic address.
  t.true((await b.run((s) => ensureDeployed(s, deploy))).equals(address));
  t.is((await b.run((s) => readContract(s, address))).seqno, 1);
  await b.close();
});

test('two chain objects on one directory see each other\'s transactions', async (t) => {
  const dir = stateDir(t);
  const a = new SandboxChain({ stateDir: dir });
  const b = new SandboxChain({ stateDir: dir });
  const address = await a.run((s) => ensureDeployed(s, deploy));
  t.true((await b.run((s) => readContract(s, address))).deployed);
  await b.run(async (s) => Settlement.createFromAddress(address).sendDeposit(s.provider(address), s.sender(), toNano('5')));
  t.true((await a.run((s) => readContract(s, address))).balance > toNano('14'));
});

test('a unit of work lost before persisting is gone after the endpoint restarts', async (t) => {
  const dir = stateDir(t);
  let crash = false;
  const a = new SandboxChain({ stateDir: dir, hooks: { beforePersist: () => { if (crash) throw new Error('endpoint killed'); } } });
  const address = await a.run((s) => ensureDeployed(s, deploy));
  crash = true;
  await t.throwsAsync(a.run((s) => Settlement.createFromAddress(address).sendDeposit(s.provider(address), s.sender(), toNano('5'))), { message: 'endpoint killed' });
  crash = false;
  t.true((await a.run((s) => readContract(s, address))).balance < toNano('11'));
});
