// Every top-level command, registered in the order `--help` lists them.
import type { Command } from 'commander';
import { registerAttestCommand } from './attest.js';

export function registerCommands(program: Command): void {
  void program;
  registerAttestCommand(program);
}
