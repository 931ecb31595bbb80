// Progress a person reads on stderr: a spinner while waiting on the cluster, and the demo's status line.
// The spinner shows only when stderr is a TTY and the wait is longer than 300 ms, erased when the work
// ends; pipes and scripts see nothing.
export async function withProgress<T>(label: string, work: Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  let shown = false;
  const timer = setInterval(() => {
    shown = true;
    process.stderr.write(`\r${frames[i++ % frames.length]} ${label}…`);
  }, 300);
  try {
    return await work;
  } finally {
    clearInterval(timer);
    if (shown) process.stderr.write('\r\u001b[2K');
  }
}

/** The demo's one-line state of the whole stack, as the cluster's objects report it. */
export function demoProgressLine(
  s: { nodesAttested: number; replicasReady: number; unitsMetered: number; unitsCommitted: number; unitsPaid: number; settlementTransactions: number },
  expected: { nodes: number; replicas: number },
): string {
  return `nodes attested ${s.nodesAttested}/${expected.nodes} · replicas ready ${s.replicasReady}/${expected.replicas} · units metered ${s.unitsMetered} · committed ${s.unitsCommitted} · paid ${s.unitsPaid} · settlements ${s.settlementTransactions}`;
}
