// One GPU count for a Pod, the one kube-scheduler and the kubelet use (the effective request), so the
// operator never offers GPUs a Pod's init or sidecar containers hold, nor counts them twice.
import test from 'ava';
import { podGpus } from '../../operator/src/placement/index.js';
import { slimPod } from '../../operator/src/kube/cached-shape.js';

const GPU = 'nvidia.com/gpu';

type Res = { requests?: Record<string, string>; limits?: Record<string, string> };
const gpus = (n: number, where: 'requests' | 'limits' = 'limits'): Res => ({ [where]: { [GPU]: String(n) } });
const container = (resources?: Res, restartPolicy?: string) => ({ name: 'c', image: 'x', ...(resources ? { resources } : {}), ...(restartPolicy ? { restartPolicy } : {}) });
const podOf = (containers: object[], initContainers?: object[]) => ({ spec: { containers, ...(initContainers ? { initContainers } : {}) } });

test('app containers add up; a request counts, and a limit stands for an unset request', (t) => {
  t.is(podGpus(podOf([container(gpus(2)), container(gpus(1, 'requests')), container()]), GPU), 3);
  t.is(podGpus(podOf([container({ requests: { [GPU]: '2' }, limits: { [GPU]: '2' } })]), GPU), 2);
  t.is(podGpus(podOf([container({ requests: { cpu: '1' } })]), GPU), 0);
  t.is(podGpus({}, GPU), 0);
});

test('an init container that needs more GPUs than the app holds them all while it runs', (t) => {
  t.is(podGpus(podOf([container(gpus(1))], [container(gpus(4)), container(gpus(2))]), GPU), 4);
  t.is(podGpus(podOf([container(gpus(3))], [container(gpus(2))]), GPU), 3);
});

test('a sidecar (init container with restartPolicy Always) holds its GPUs beside the app', (t) => {
  t.is(podGpus(podOf([container(gpus(1))], [container(gpus(1), 'Always')]), GPU), 2);
});

test('a sidecar started before an init container adds to that init container\'s peak, one started after does not', (t) => {
  // sidecar 1, then init 4: 1 + 4 = 5 while the init container runs; afterwards app 1 + sidecar 1 = 2.
  t.is(podGpus(podOf([container(gpus(1))], [container(gpus(1), 'Always'), container(gpus(4))]), GPU), 5);
  // init 4 first, then the sidecar: the peak is 4, the running total 1 + 1.
  t.is(podGpus(podOf([container(gpus(1))], [container(gpus(4)), container(gpus(1), 'Always')]), GPU), 4);
});

test('a value that is not a whole number of GPUs counts as none', (t) => {
  t.is(podGpus(podOf([container(gpus(Number.NaN)), container({ limits: { [GPU]: '500m' } }), container({ limits: { [GPU]: '-1' } })]), GPU), 0);
});

test('the cached Pod keeps what the count reads: a sidecar is still a sidecar after slimming', (t) => {
  const pod = podOf([container(gpus(1))], [container(gpus(1), 'Always'), container(gpus(4))]);
  const whole = podGpus(structuredClone(pod), GPU);
  t.is(podGpus(slimPod(pod), GPU), whole);
});
