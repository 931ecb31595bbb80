// Entry point of `chrysalis-attester` (see cli.ts for the flags and exit statuses). Wiring only.
import { CommanderError } from 'commander';
import { buildProgram } from './cli.js';

const program = buildProgram(
  (line) => process.stdout.write(`${line}\n`),
  (code) => {
    process.exitCode = code;
  },
);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  // commander already printed its message; --help and --version exit 0, usage errors 2.
  process.exitCode = err instanceof CommanderError && err.exitCode === 0 ? 0 : 2;
}
// Everything has finished here (the daemon returns only after SIGTERM); exit even if a library left a
// handle open, so --once and --print end promptly.
process.exit(process.exitCode ?? 0);
