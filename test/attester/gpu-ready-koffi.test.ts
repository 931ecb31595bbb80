// The koffi binding's side of the ready-state contract, through native code: a stand-in libnvidia-ml.so,
// compiled here from the C below with the nvml.h signatures the binding declares, is loaded by loadNvml,
// so the real FFI declarations are exercised (the value passed by value, the state read through a
// pointer, an nvmlReturn_t turned into NVML_FAILED with nvmlErrorString). Not NVIDIA's library: what a
// real driver does with the state is not shown here.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttesterError } from '../../attester/src/errors.js';
import { CC_GPUS_NOT_READY, CC_GPUS_READY, loadNvml } from '../../attester/src/gpu/nvml.js';
import { NvmlGpuSource } from '../../attester/src/gpu/source.js';

const FAKE_NVML_C = String.raw`
#include <string.h>
typedef int nvmlReturn_t;
typedef struct { int unused; } *nvmlDevice_t;
static unsigned int ready = 0;          /* NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE at boot */
static unsigned int set_calls = 0, last_set = 0xffffffff;
static nvmlReturn_t fail_next_set = 0;
static unsigned int cc_feature = 1;
nvmlReturn_t nvmlInit_v2(void) { return 0; }
nvmlReturn_t nvmlShutdown(void) { return 0; }
const char *nvmlErrorString(nvmlReturn_t r) { return r == 4 ? "Insufficient Permissions" : r == 2 ? "Invalid Argument" : "Unknown Error"; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) { *n = 1; return 0; }
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) { *d = (nvmlDevice_t)0x1; return i == 0 ? 0 : 2; }
nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned int n) { strncpy(v, "550.90.07", n); return 0; }
nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t d, char *v, unsigned int n) { strncpy(v, "96.00.9F.00.01", n); return 0; }
nvmlReturn_t nvmlSystemGetConfComputeState(unsigned int *s) { s[0] = 2; s[1] = cc_feature; s[2] = 0; return 0; }
nvmlReturn_t nvmlSystemGetConfComputeGpusReadyState(unsigned int *isAcceptingWork) { *isAcceptingWork = ready; return 0; }
nvmlReturn_t nvmlSystemSetConfComputeGpusReadyState(unsigned int isAcceptingWork) {
  set_calls++; last_set = isAcceptingWork;
  if (fail_next_set) { nvmlReturn_t r = fail_next_set; fail_next_set = 0; return r; }
  if (isAcceptingWork > 1) return 2;
  ready = isAcceptingWork; return 0;
}
nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(nvmlDevice_t d, void *r) { return 3; }
nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(nvmlDevice_t d, void *c) { return 3; }
/* Test controls, not part of NVML. */
unsigned int fake_set_calls(void) { return set_calls; }
unsigned int fake_last_set(void) { return last_set; }
void fake_fail_next_set(nvmlReturn_t r) { fail_next_set = r; }
void fake_cc_feature(unsigned int on) { cc_feature = on; }
`;

function buildFakeNvml(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'chrysalis-fake-nvml-'));
  writeFileSync(join(dir, 'fake-nvml.c'), FAKE_NVML_C);
  const path = join(dir, 'libnvidia-ml.so.1');
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O0', '-o', path, join(dir, 'fake-nvml.c')], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`this test compiles a stand-in libnvidia-ml.so and needs a C compiler as cc (install gcc): ${(err as Error).message.split('\n')[0]}`);
  }
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

type Koffi = typeof import('koffi');
const koffi = createRequire(import.meta.url)('koffi') as Koffi;

// One library per test file: each test loads its own copy (dlopen of another path), so state is not shared.
function fakeLibrary(t: { teardown: (f: () => void) => void }) {
  const { path, cleanup } = buildFakeNvml();
  t.teardown(cleanup);
  const lib = koffi.load(path);
  return {
    path,
    setCalls: lib.func('uint32_t fake_set_calls(void)') as () => number,
    lastSet: lib.func('uint32_t fake_last_set(void)') as () => number,
    failNextSet: lib.func('void fake_fail_next_set(int r)') as (r: number) => void,
    ccFeature: lib.func('void fake_cc_feature(uint32_t on)') as (on: number) => void,
  };
}

test('the koffi binding passes the ready state by value and reads it back through the pointer', (t) => {
  const fake = fakeLibrary(t);
  const nvml = loadNvml(fake.path);
  nvml.init();
  t.is(nvml.gpusReadyState(), CC_GPUS_NOT_READY);
  nvml.setGpusReadyState(CC_GPUS_READY);
  t.is(fake.lastSet(), 1, 'the C function received 1 (NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE)');
  t.is(nvml.gpusReadyState(), CC_GPUS_READY);
  nvml.setGpusReadyState(CC_GPUS_NOT_READY);
  t.is(fake.lastSet(), 0);
  t.is(nvml.gpusReadyState(), CC_GPUS_NOT_READY);
  t.is(fake.setCalls(), 2);
});

test('a value nvml.h does not define never reaches the driver', (t) => {
  const fake = fakeLibrary(t);
  const nvml = loadNvml(fake.path);
  const err = t.throws(() => nvml.setGpusReadyState(2), { instanceOf: AttesterError });
  t.is(err?.code, 'NVML_FAILED');
  t.is(fake.setCalls(), 0);
});

test("an nvmlReturn_t from the setter is NVML_FAILED with NVML's own message", (t) => {
  const fake = fakeLibrary(t);
  const nvml = loadNvml(fake.path);
  fake.failNextSet(4);
  const err = t.throws(() => nvml.setGpusReadyState(CC_GPUS_READY), { instanceOf: AttesterError });
  t.is(err?.code, 'NVML_FAILED');
  t.regex(err?.message ?? '', /nvmlSystemSetConfComputeGpusReadyState\(1\) failed: Insufficient Permissions \(nvmlReturn_t 4\)/);
  t.is(nvml.gpusReadyState(), CC_GPUS_NOT_READY);
});

test('NvmlGpuSource releases through the native binding only with CC on, and withholds whatever the mode', async (t) => {
  const fake = fakeLibrary(t);
  const source = new NvmlGpuSource({ libraryPath: fake.path });
  await source.setGpusReady(true);
  t.true(source.probe().gpusReady);
  fake.ccFeature(0);
  const err = await t.throwsAsync(source.setGpusReady(true), { instanceOf: AttesterError });
  t.is(err?.code, 'GPU_CC_DISABLED');
  await source.setGpusReady(false);
  t.false(source.probe().gpusReady);
  t.is(fake.lastSet(), 0);
});
