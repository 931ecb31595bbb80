// A Pod scheduled onto the real node runs: sandbox, CNI bridge address, service-account token volume,
// the container's process and its log, all for real (no kwok). Needs root; fails, not skips, without it.
import test from 'ava';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
import { createNamespace, createPod, logContaining, waitForPhase } from './pods.js';

let plane: ControlPlane;
let node: RealNode;

test.before(async () => {
  // kwok runs too, as in every plane: it must leave the real node and its Pods to the real kubelet.
  plane = await startControlPlane();
  node = await startRealNode(plane);
});

test.after.always(async () => {
  await node?.stop();
  await plane?.stop();
});

test('a Pod scheduled onto the real node runs the Debian busybox image and its output reads back through the apiserver', async (t) => {
  const kc = plane.kubeConfig();
  const namespace = 'realnode-pod';
  await createNamespace(kc, namespace);
  // The scheduler places it: the real node is the only node of this plane (no kwok node was made).
  await createPod(kc, namespace, {
    metadata: { name: 'hello' },
    spec: {
      containers: [{
        name: 'hello', image: node.busyboxImage, imagePullPolicy: 'Never',
        command: ['/bin/busybox', 'sh', '-c',
          'echo "hello from $(hostname) uid=$(id -u) ip=$(ip -4 -o addr show eth0 | awk \'{print $4}\') token=$(test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo yes)"; exec sleep 3600'],
        securityContext: { runAsUser: 1000, runAsNonRoot: true, allowPrivilegeEscalation: false },
      }],
    },
  });
  const pod = await waitForPhase(kc, namespace, 'hello', ['Running']);
  t.is(pod.spec?.nodeName, node.name);
  t.regex(pod.status?.podIP ?? '', /^10\.244\.0\.\d+$/, 'an address from the node\'s CNI bridge');
  const log = await logContaining(kc, namespace, 'hello', 'hello from');
  t.true(log.includes(`hello from hello uid=1000 ip=${pod.status?.podIP}/24 token=yes`), log);
});
