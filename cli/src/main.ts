// The `chrysalis` command line (also `kubectl chrysalis` through the kubectl-chrysalis name).
// Wiring only: each command lives in its own file under commands/ and registers itself here.
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands/index.js';

const program = new Command();
program
  .name(process.argv[1]?.includes('kubectl-chrysalis') ? 'kubectl chrysalis' : 'chrysalis')
  .description('Attested, billable confidential GPU inference capacity on Kubernetes, settled on TON')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed the message; help and version exit 0, usage errors exit 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
