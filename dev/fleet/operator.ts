// The operator as `chrysalis demo` and the fleet tests run it: in this process, no leader election, the
// attestation service on a free local port with a fresh self-signed certificate.
import type { Server } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOperator, startAttestationService } from '../../operator/src/main.js';
import type { Manager } from '../../operator/src/kube/manager.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { RestClient } from '../../operator/src/kube/rest.js';
import { installCrds } from '../install-crds.js';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.js';
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

/** The node attesters' ServiceAccount the fleet simulator makes tokens of (fleet.ts: chrysalis-fleet/chrysalis-attester). */
export const FLEET_ATTESTER_SERVICE_ACCOUNT = 'chrysalis-fleet/chrysalis-attester';

export async function startLocalOperator(kubeconfig: string, options: { qps?: number; burst?: number; attesterServiceAccount?: string } = {}): Promise<LocalOperator> {
  const [metricsPort, attestationPort] = [await freePort(), await freePort()];
  // Sandbox SettlementAccounts keep their chain state here; it goes with the operator.
  const sandboxDir = mkdtempSync(join(tmpdir(), 'chrysalis-sandbox-'));
  const flags = { kubeconfig, leaderElect: false, leaseNamespace: 'chrysalis-system', metricsPort, attestationPort, qps: options.qps ?? 100, burst: options.burst ?? 200, sandboxDir, attesterServiceAccount: options.attesterServiceAccount ?? FLEET_ATTESTER_SERVICE_ACCOUNT };
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

export interface PrivateOperator {
  plane: ControlPlane;
  operator: LocalOperator;
  kc: KubeConfig;
  /** An admin client on the private plane. */
  rest: RestClient;
  stop(): Promise<void>;
}

/**
 * A control plane of its own with the CRDs installed and the whole operator running against it: for
 * tests whose subject is cluster-wide (the operator's controllers would otherwise act on every other
 * test's objects on the shared plane). Start it in test.before, stop it in test.after.always.
 */
export async function startPrivateOperator(options: { rest?: { qps: number; burst: number }; attesterServiceAccount?: string } = {}): Promise<PrivateOperator> {
  const plane = await startControlPlane();
  try {
    const kc = plane.kubeConfig();
    const rest = new RestClient(kc, options.rest);
    await installCrds(kc);
    const operator = await startLocalOperator(plane.kubeconfigPath, options.attesterServiceAccount ? { attesterServiceAccount: options.attesterServiceAccount } : {});
    return {
      plane, operator, kc, rest,
      async stop() {
        await operator.stop();
        rest.close();
        await plane.stop();
      },
    };
  } catch (err) {
    await plane.stop();
    throw err;
  }
}
