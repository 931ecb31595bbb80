// Stopping a real node leaves nothing on the machine: no process, mount (the simulated TSM's included),
// network namespace (its own or a Pod's), veth, cgroup, file, iptables rule or kernel tunable of its. The
// check is shown to see each kind of thing while the node runs a Pod, so an empty list after stop() means
// they were removed.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { startControlPlane } from '../../dev/cluster/control-plane.js';
import { realNodeLeftovers, startRealNode } from '../../dev/cluster/real-node.js';
import { SimulatedTee } from '../../operator/src/attestation/simulated/index.js';
import { createNamespace, createPod, waitForPhase } from './pods.js';

const run = promisify(execFile);
const kubeChains = async (netns?: string) => {
  const { stdout } = await run(netns ? 'ip' : 'iptables-save', netns ? ['netns', 'exec', netns, 'iptables-save'] : []);
  return new Set(stdout.split('\n').filter((l) => /^:KUBE-/.test(l)).map((l) => l.split(' ')[0]!));
};

test('a stopped real node leaves no process, mount, namespace, veth, cgroup or iptables rule behind', async (t) => {
  const plane = await startControlPlane({ kwok: false });
  t.teardown(() => plane.stop());
  const hostChainsBefore = await kubeChains();
  // With a GPU and the simulated TSM (a FUSE mount this process serves) and the cluster DNS on port 53.
  const node = await startRealNode(plane, { gpus: 1, simulatedTee: SimulatedTee.create({ gpus: 1 }) });
  const fp = node.footprint;
  try {
    const kc = plane.kubeConfig();
    await createNamespace(kc, 'realnode-cleanup');
    await createPod(kc, 'realnode-cleanup', {
      metadata: { name: 'sleeper' },
      spec: { containers: [{ name: 'sleeper', image: node.busyboxImage, imagePullPolicy: 'Never', command: ['/bin/busybox', 'sleep', '3600'] }] },
    });
    await waitForPhase(kc, 'realnode-cleanup', 'sleeper', ['Running']);

    // kube-proxy's chains are in the node's namespace, not the host's.
    t.true((await kubeChains(fp.netns)).has(':KUBE-SERVICES'));
    const running = await realNodeLeftovers(fp);
    t.true(running.includes(`mount ${node.tsmPath}`), 'the check sees the simulated TSM mount');
    for (const kind of ['process', 'mount', 'network namespace', 'link', 'cgroup', 'directory']) {
      t.true(running.some((line) => line.startsWith(kind)), `the check sees the running node's ${kind}s`);
    }
  } finally {
    await node.stop();
  }

  t.true(fp.podNetns.length > 0, 'the Pod sandbox namespace was found and removed');
  t.deepEqual(await realNodeLeftovers(fp), []);
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${node.tsmPath} `), 'no simulated TSM mount is left');
  t.deepEqual(await kubeChains(), hostChainsBefore, 'the host\'s iptables chains are as before');
});
