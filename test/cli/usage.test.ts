// The CLI's usage contract, run as spawned processes: --help for every registered command exits 0, a
// bad flag is a usage error with exit 2, no reachable cluster is one line and exit 2, kubectl-chrysalis
// names itself, and completion scripts come from the command tree.
import test from 'ava';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerCommands } from '../../cli/src/commands/index.js';
import { BIN, runCli } from './helpers.js';

function commandPaths(): string[][] {
  const program = new Command();
  registerCommands(program);
  const out: string[][] = [];
  const walk = (c: Command, path: string[]) => {
    out.push(path);
    for (const sub of c.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  return out;
}

test('--help works for every registered command and exits 0', async (t) => {
  const paths = commandPaths();
  t.true(paths.length >= 8);
  for (const path of paths) {
    const r = await runCli([...path, '--help']);
    t.is(r.code, 0, `${path.join(' ')}: ${r.stderr}`);
    t.regex(r.stdout, /^Usage: chrysalis/, path.join(' '));
    t.is(r.stderr, '');
  }
});

test('an unknown flag or bad value is a usage error with exit 2', async (t) => {
  for (const args of [['nodes', '--bogus'], ['status', '--nope'], ['describe', 'pnode', 'x', '--zzz'], ['plan', '-f', 'pool.yaml', '--frobnicate']]) {
    const r = await runCli(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /error: unknown option '--/);
  }
  const badOutput = await runCli(['pools', '-o', 'xml']);
  t.is(badOutput.code, 2);
  t.regex(badOutput.stderr, /error: option '-o, --output <format>' argument 'xml' is invalid\. Allowed choices are table, json, yaml\./);
  const noFile = await runCli(['plan']);
  t.is(noFile.code, 2);
  t.regex(noFile.stderr, /required option '-f, --filename <file>' not specified/);
  const missingArg = await runCli(['describe', 'pnode']);
  t.is(missingArg.code, 2);
});

test('no reachable cluster: one line naming the URL and what to set, exit 2, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-nocluster-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`);
  for (const args of [['nodes'], ['status'], ['pools', '-A'], ['describe', 'pnode', 'a']]) {
    const r = await runCli([...args, '--kubeconfig', kubeconfig]);
    t.is(r.code, 2, args.join(' '));
    t.is(r.stderr, 'error: cannot reach the cluster at https://127.0.0.1:1: ECONNREFUSED (set --kubeconfig or KUBECONFIG)\n');
    t.is(r.stdout, '');
  }
  const viaEnv = await runCli(['nodes'], { KUBECONFIG: kubeconfig });
  t.is(viaEnv.code, 2);
  t.regex(viaEnv.stderr, /cannot reach the cluster at https:\/\/127\.0\.0\.1:1/);
  const absent = await runCli(['nodes'], { KUBECONFIG: join(dir, 'missing') });
  t.is(absent.code, 2);
  t.is(absent.stderr, `error: KUBECONFIG names ${join(dir, 'missing')}, which does not exist\n`);
});

test('kubectl-chrysalis calls itself "kubectl chrysalis" and completion scripts list the commands', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-kubectl-'));
  const link = join(dir, 'kubectl-chrysalis');
  symlinkSync(BIN, link);
  const help = await runCli(['--help'], {}, link);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: kubectl chrysalis/);

  const bash = await runCli(['completion', 'bash']);
  t.is(bash.code, 0);
  for (const word of ['status', 'nodes', 'pools', 'describe', 'plan', 'completion', '--output', '--kubeconfig']) t.true(bash.stdout.includes(word), word);
  t.regex(bash.stdout, /complete -o default -F _chrysalis_complete chrysalis/);
  const zsh = await runCli(['completion', 'zsh']);
  t.regex(zsh.stdout, /^#compdef chrysalis/);
  const fish = await runCli(['completion', 'fish']);
  t.is(fish.code, 2);
});
