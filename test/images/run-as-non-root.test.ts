// The operator and attester images, built here from Debian-package bases (scripts/build-images.sh), start
// under testcontainers (podman's Docker API), answer --version with the package version, and run as the
// numeric non-root user the Dockerfiles set — checked in the running container, not only in its config.
// No network (none needed), so podman makes no bridge or iptables rule on the host.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GenericContainer, Wait } from 'testcontainers';
import { localImages, repoRoot, startPodmanService, type PodmanService } from './podman-service.js';

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
let podman: PodmanService;
let images: { operator: string; attester: string };

test.before(async () => {
  images = await localImages();
  podman = await startPodmanService();
});
test.after.always(async () => {
  await podman?.stop();
});

async function output(container: { logs(): Promise<NodeJS.ReadableStream> }): Promise<string> {
  const chunks: string[] = [];
  const stream = await container.logs();
  await new Promise<void>((resolveEnd, reject) => {
    stream.on('data', (chunk: Buffer | string) => chunks.push(chunk.toString()));
    stream.on('end', () => resolveEnd());
    stream.on('error', reject);
  });
  return chunks.join('').trim();
}

for (const component of ['operator', 'attester'] as const) {
  test(`the ${component} image answers --version through its own entrypoint`, async (t) => {
    const container = await new GenericContainer(images[component])
      .withNetworkMode('none')
      .withCommand(['--version'])
      .withWaitStrategy(Wait.forOneShotStartup())
      .start();
    try {
      t.is(await output(container), version);
    } finally {
      await container.stop({ remove: true }).catch(() => undefined);
    }
  });

  test(`the ${component} image runs as uid/gid 65532, not root`, async (t) => {
    // The image's own Node.js, kept alive so the running process can be asked who it is.
    const container = await new GenericContainer(images[component])
      .withNetworkMode('none')
      .withEntrypoint(['/nodejs/bin/node'])
      .withCommand(['-e', 'setInterval(() => {}, 1 << 30)'])
      .start();
    try {
      const who = await container.exec(['/nodejs/bin/node', '-p', '`${process.getuid()}:${process.getgid()}`']);
      t.is(who.exitCode, 0, who.output);
      t.is(who.output.trim(), '65532:65532');
      const shell = await container.exec(['/bin/sh', '-c', 'true']).catch((err: Error) => ({ exitCode: -1, output: err.message }));
      t.not(shell.exitCode, 0, 'the runtime image has no shell');
    } finally {
      await container.stop({ remove: true, timeout: 0 }).catch(() => undefined);
    }
  });
}
