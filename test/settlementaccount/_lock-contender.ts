// Run by sandbox-lock-namespaces.test.ts in a PID namespace of its own (unshare --pid): takes the sandbox
// chain's lock on the directory given, printing "trying" before and "acquired <epoch ms>" once it holds it.
import { SandboxChain } from '../../operator/src/settlement/chain/sandbox-chain.js';

const dir = process.argv[2]!;
const chain = new SandboxChain({ stateDir: dir, lockTimeoutMs: 60_000 });
process.stdout.write('trying\n');
await chain.run(async () => {
  process.stdout.write(`acquired ${Date.now()}\n`);
});
await chain.close();
