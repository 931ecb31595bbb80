// kube-proxy on the real node routes a ClusterIP Service to a Pod on the same node (the path a node
// attester takes to the attestation service): a busybox httpd behind a Service, fetched from another Pod
// by the Service's ClusterIP.
import test from 'ava';
import { CoreV1Api } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../dev/cluster/control-plane.js';
import { startRealNode, type RealNode } from '../../dev/cluster/real-node.js';
import { createNamespace, createPod, logContaining, waitForPhase } from './pods.js';

let plane: ControlPlane;
let node: RealNode;

test.before(async () => {
  plane = await startControlPlane({ kwok: false });
  node = await startRealNode(plane);
});

test.after.always(async () => {
  await node?.stop();
  await plane?.stop();
});

test('a Pod on the real node reaches another Pod there through a ClusterIP Service', async (t) => {
  const kc = plane.kubeConfig();
  const ns = 'realnode-service';
  await createNamespace(kc, ns);
  await createPod(kc, ns, {
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      containers: [{
        name: 'web', image: node.busyboxImage, imagePullPolicy: 'Never',
        command: ['/bin/busybox', 'sh', '-c', 'mkdir -p /tmp/www && echo "served by $(hostname)" > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www'],
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
      }],
    },
  });
  const service = await kc.makeApiClient(CoreV1Api).createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
  });
  const clusterIP = service.spec?.clusterIP ?? '';
  t.regex(clusterIP, /^10\.96\./);
  await waitForPhase(kc, ns, 'web', ['Running']);
  await createPod(kc, ns, {
    metadata: { name: 'client' },
    spec: {
      restartPolicy: 'OnFailure',
      containers: [{
        name: 'client', image: node.busyboxImage, imagePullPolicy: 'Never',
        // Retried by the kubelet (OnFailure) until kube-proxy has the Service's endpoint. (nc, not
        // wget: Debian's static busybox wget crashes; `grep` fails the try unless the page came back.)
        command: ['/bin/busybox', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 ${clusterIP} 80 | grep 'served by'`],
      }],
    },
  });
  const pod = await waitForPhase(kc, ns, 'client', ['Succeeded']);
  t.is(pod.spec?.nodeName, node.name);
  t.is((await logContaining(kc, ns, 'client', 'served by')).trim(), 'served by web');
});
