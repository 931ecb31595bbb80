// `--watch`: render, then poll every 2 s and print again when the output changed. Ctrl-C ends the
// watch with exit 0. On a TTY the screen is cleared before each render; in a pipe renders are appended.
import { Option, type Command } from 'commander';
import { connect, type Cluster } from '../kube.js';

/** The `-w, --watch` flag of the listing commands. */
export function watchOption(): Option {
  return new Option('-w, --watch', 'keep watching: re-render every 2 s when something changed (Ctrl-C exits 0)');
}

/** A listing command's action: connect, print `render` once (or keep re-rendering with --watch), close. */
export async function listOnceOrWatch(command: Command, watch: boolean | undefined, render: (cluster: Cluster) => Promise<string>): Promise<void> {
  const cluster = connect(command);
  try {
    if (watch) await watchLoop(() => render(cluster));
    else process.stdout.write(await render(cluster));
  } finally {
    cluster.close();
  }
}

export async function watchLoop(render: () => Promise<string>, intervalMs = 2000): Promise<void> {
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    process.exitCode = 0;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let last: string | undefined;
  while (!stopped) {
    const text = await render();
    if (text !== last) {
      if (process.stdout.isTTY) process.stdout.write('\u001b[2J\u001b[H');
      else if (last !== undefined) process.stdout.write('\n');
      process.stdout.write(text);
      last = text;
    }
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, intervalMs);
    });
  }
  process.exitCode = 0;
}
