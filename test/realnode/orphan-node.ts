// Run as its own process by orphan.test.ts: starts a plane and a real node running one Pod, prints the
// node's footprint as one JSON line, then waits to be killed (-9), leaving the node orphaned.
import { startControlPlane } from '../../dev/cluster/control-plane.js';
import { startRealNode } from '../../dev/cluster/real-node.js';
import { createNamespace, createPod, waitForPhase } from './pods.js';

const plane = await startControlPlane({ kwok: false });
const node = await startRealNode(plane);
const kc = plane.kubeConfig();
await createNamespace(kc, 'orphan');
await createPod(kc, 'orphan', {
  metadata: { name: 'sleeper' },
  spec: { containers: [{ name: 'sleeper', image: node.busyboxImage, imagePullPolicy: 'Never', command: ['/bin/busybox', 'sleep', '3600'] }] },
});
await waitForPhase(kc, 'orphan', 'sleeper', ['Running']);
process.stdout.write(`${JSON.stringify(node.footprint)}\n`);
setInterval(() => {}, 1 << 30);
