// `chrysalis demo` as a newcomer runs it (no --until-ready): the screen carries progress a person reads,
// the operator's JSON logs go to the file the demo names first, and Ctrl-C after "converged" is a clean
// stop with the summary; during the setup it stops at the next step. --verbose puts the logs back on the
// screen.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { demoLogFile, removeDemoLogDir } from './_demo-log-dir.js';

interface Demo {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves once a stderr line satisfies `match`; rejects if the demo exits first. */
  waitFor: (what: string, match: (line: string) => boolean) => Promise<string>;
}

function startDemo(args: string[]): Demo {
  const child = spawn(process.execPath, ['cli/bin/chrysalis.js', 'demo', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // info: the level a newcomer gets, so the operator has plenty to say.
    env: { ...process.env, CHRYSALIS_LOG_LEVEL: 'info' },
  });
  let err = '';
  const waiters: Array<() => void> = [];
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of waiters.slice()) w();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return {
    child,
    stderr: () => err,
    exited,
    waitFor: (what, match) => new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = err.split('\n').slice(0, -1).find(match);
        if (line !== undefined) resolve(line);
      };
      waiters.push(check);
      check();
      void exited.then((c) => reject(new Error(`demo exited ${c} before ${what}; stderr tail:\n${err.slice(-2000)}`)));
    }),
  };
}

const isJsonLine = (line: string) => {
  if (!line.trimStart().startsWith('{')) return false;
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

test.serial('the interactive demo keeps the operator\'s JSON logs off the screen and exits 0 on Ctrl-C after converging', async (t) => {
  t.timeout(720_000); // about a minute on an idle 2-core machine; the margin is for a loaded one
  const demo = startDemo(['--nodes', '2', '--pools', '1']);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    removeDemoLogDir(demo.stderr());
  });

  await demo.waitFor('"converged"', (l) => l.startsWith('converged: '));

  const screen = demo.stderr().split('\n');
  t.deepEqual(screen.filter(isJsonLine).slice(0, 3), [], 'no JSON log line on the screen');
  const logFile = demoLogFile(demo.stderr());
  t.truthy(logFile, 'the demo names its log file');
  if (logFile) {
    t.true(existsSync(logFile), `the named log file ${logFile} exists`);
    const logged = readFileSync(logFile, 'utf8').split('\n').filter(isJsonLine).map((l) => JSON.parse(l) as { component?: string });
    t.true(logged.some((l) => typeof l.component === 'string'), 'the operator\'s JSON logs are in the named file');
  }

  demo.child.kill('SIGINT'); // what Ctrl-C sends
  const code = await demo.exited;
  t.is(code, 0, `a stop asked for after convergence is a clean exit; stderr tail:\n${demo.stderr().slice(-1500)}`);
  t.regex(demo.stderr(), /stopped after converging; at the stop: nodes attested 2\/2 · replicas ready \d+\/2 · units metered \d+ · committed \d+ · paid \d+ · settlements \d+/);
  t.notRegex(demo.stderr(), /not converged/);
});

test.serial('with --verbose the operator\'s JSON logs are on the screen, and Ctrl-C before converging exits 1', async (t) => {
  t.timeout(600_000);
  // No pools: nothing is served, so the demo cannot converge before the Ctrl-C.
  const demo = startDemo(['--nodes', '1', '--pools', '0', '--verbose']);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    removeDemoLogDir(demo.stderr());
  });
  await demo.waitFor('a JSON log line', isJsonLine);
  t.notRegex(demo.stderr(), /^operator logs: /m, 'no log file with --verbose');
  await demo.waitFor('the progress loop', (l) => /^\[\d+s\] nodes attested/.test(l));
  demo.child.kill('SIGINT');
  t.is(await demo.exited, 1);
  t.regex(demo.stderr(), /^not converged; at the stop: /m);
});

test.serial('Ctrl-C during the setup stops the demo before it starts the next part, and exits 1', async (t) => {
  t.timeout(600_000);
  const demo = startDemo(['--nodes', '2', '--pools', '1']);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    removeDemoLogDir(demo.stderr());
  });
  await demo.waitFor('the control plane', (l) => l.startsWith('  kubeconfig: '));
  demo.child.kill('SIGINT');
  t.is(await demo.exited, 1);
  const afterStart = demo.stderr().slice(demo.stderr().indexOf('  kubeconfig: '));
  t.regex(afterStart, /^stop requested: ending after the current setup step…$/m);
  t.notRegex(afterStart, /^(fleet: |applied )/m, 'no fleet or pools started after the Ctrl-C');
  t.notRegex(afterStart, /demo failed/);
  t.regex(afterStart, /^not converged; at the stop: /m);
});
