// The operator as `chrysalis demo` and the fleet tests run it: in this process, no leader election, the
// attestation service on a free local port with a fresh self-signed certificate.
import type { Server } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOperator, startAttestationService } from '../../operator/src/main.js';
import type { Manager } from '../../operator/src/kube/manager.js';
import { freePort } from '../cluster/ports.js';

export interface LocalOperator {
  manager: Manager;
  /** https://127.0.0.1:<port> */
  serviceUrl: string;
  /** PEM of the service's certificate: the CA attesters pin. */
  ca: string;
  /** Root of the sandbox chains of SettlementAccounts on network: sandbox (a temp dir, removed at stop). */
  sandboxDir: string;
  stop(): Promise<void>;
}

export async function startLocalOperator(kubeconfig: string, options: { qps?: number; burst?: number } = {}): Promise<LocalOperator> {
  const [metricsPort, attestationPort] = [await freePort(), await freePort()];
  // Sandbox SettlementAccounts keep their chain state here; it goes with the operator.
  const sandboxDir = mkdtempSync(join(tmpdir(), 'chrysalis-sandbox-'));
  const flags = { kubeconfig, leaderElect: false, leaseNamespace: 'chrysalis-system', metricsPort, attestationPort, qps: options.qps ?? 100, burst: options.burst ?? 200, sandboxDir };
  const manager = buildOperator(flags);
  const running = manager.run();
  const { server, tls } = await startAttestationService(manager, flags);
  return {
    manager,
    serviceUrl: `https://127.0.0.1:${attestationPort}`,
    ca: tls.cert,
    sandboxDir,
    async stop() {
      const closed = new Promise<void>((r) => (server as Server).close(() => r()));
      (server as Server).closeAllConnections?.();
      await closed;
      await manager.stop();
      await running.catch(() => undefined);
      rmSync(sandboxDir, { recursive: true, force: true });
    },
  };
}
