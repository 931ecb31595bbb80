// The attester DaemonSet's mounts follow attester.topology: node-cvm mounts the Node's configfs-tsm (the
// Node is the confidential VM); pod-cvm runs the attester in its own confidential VM (a runtime class is
// required), mounts nothing from the host (whose configfs is not a TEE's), and attests no GPU (the
// replicas' VMs hold them). Misconfigured pod-cvm values fail the render with the value to set.
import test from 'ava';
import { find, render } from './helm.js';

interface Spec {
  runtimeClassName?: string;
  containers: Array<{ args?: string[]; volumeMounts?: Array<{ name: string; mountPath: string }> }>;
  volumes?: Array<{ name: string; hostPath?: { path: string } }>;
}
const attesterSpec = async (set: string[]): Promise<Spec> => {
  const ds = find(await render({ set }), 'DaemonSet');
  return (ds[0]!.spec as { template: { spec: Spec } }).template.spec;
};

test('node-cvm (the default) mounts the Node\'s configfs-tsm and reads it there', async (t) => {
  const spec = await attesterSpec([]);
  t.true(spec.volumes?.some((v) => v.hostPath?.path === '/sys/kernel/config/tsm'));
  t.true(spec.containers[0]!.args?.includes('--tsm-root=/sys/kernel/config/tsm/report'));
  t.true(spec.containers[0]!.args?.includes('--gpu=nvml'));
});

test('pod-cvm runs the attester under the confidential runtime class with no host path and no GPU', async (t) => {
  const spec = await attesterSpec(['attester.topology=pod-cvm', 'attester.runtimeClassName=kata-qemu-snp', 'attester.gpu=none']);
  t.is(spec.runtimeClassName, 'kata-qemu-snp');
  t.false(spec.volumes?.some((v) => v.hostPath) ?? false, 'nothing from the host');
  t.false(spec.containers[0]!.volumeMounts?.some((m) => m.name === 'tsm') ?? false);
  const args = spec.containers[0]!.args ?? [];
  t.true(args.includes('--tee=tsm'));
  t.false(args.some((a) => a.startsWith('--tsm-root=')), 'configfs-tsm at its default path inside its own VM');
  t.true(args.includes('--gpu=none'));
});

test('pod-cvm without a runtime class, or with GPU evidence, does not render', async (t) => {
  await t.throwsAsync(attesterSpec(['attester.topology=pod-cvm', 'attester.gpu=none']), { message: /set attester.runtimeClassName/ });
  await t.throwsAsync(attesterSpec(['attester.topology=pod-cvm', 'attester.runtimeClassName=kata-qemu-snp']), { message: /set attester.gpu to none/ });
  await t.throwsAsync(attesterSpec(['attester.topology=cvm']), { message: /topology/ });
});
