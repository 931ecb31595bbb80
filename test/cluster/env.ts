// Names shared by the test runner (test/run.ts) and the tests' cluster helper (index.ts). Kept apart from
// index.ts because that module imports ava, and ava refuses to load outside its own CLI.

/** Path of the kubeconfig of the cluster the tests use; set by `npm test`, or by hand for an existing cluster. */
export const TEST_KUBECONFIG_ENV = 'CHRYSALIS_TEST_KUBECONFIG';
