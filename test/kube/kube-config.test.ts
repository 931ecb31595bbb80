import test from 'ava';
import { loadKubeConfig } from '../../operator/src/kube/kube-config.js';

test('an explicit --kubeconfig that does not exist is an error naming it', (t) => {
  t.throws(() => loadKubeConfig({ kubeconfig: '/nonexistent/kc', env: {} }), { message: /--kubeconfig \/nonexistent\/kc/ });
});

test('a KUBECONFIG naming a missing file is an error, not a fall-through to another source', (t) => {
  t.throws(() => loadKubeConfig({ env: { KUBECONFIG: '/nonexistent/kc' } }), { message: /KUBECONFIG names \/nonexistent\/kc/ });
});
