// What a build needs and what the images promise, checked without building (scripts/build-images.sh builds
// them here on Debian-package bases; see images/README.md): a complete build
// context, digest-pinned bases, a shell-less non-root runtime stage, an entrypoint tsc actually emits, and
// the chart's defaults pointing at these images.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { chartDir, repoRoot } from './helm.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/**
 * Dockerfile → stages (comments dropped, line continuations joined). A FROM naming a global ARG (one
 * declared before the first FROM) is read with that ARG's default: what a plain `docker build` uses.
 */
function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full) lines.push(full);
  }
  const stages: Stage[] = [];
  const globalArgs = new Map<string, string>();
  for (const line of lines) {
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'ARG' && stages.length === 0) {
      const arg = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(args.trim());
      if (arg) globalArgs.set(arg[1]!, arg[2] ?? '');
    } else if (op === 'FROM') {
      const expanded = args.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => globalArgs.get(name) ?? '');
      const parts = expanded.split(/\s+/).filter((p) => !p.startsWith('--'));
      stages.push({ from: parts[0]!, name: /^as$/i.test(parts[1] ?? '') ? parts[2] : undefined, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push({ op, args });
    }
  }
  return stages;
}

/** Docker's .dockerignore semantics (moby/patternmatcher): last matching pattern wins; a pattern matching a parent directory matches the file. */
function dockerignore(text: string): (path: string) => boolean {
  const patterns = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const body = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
    let re = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i]!;
      if (c === '*' && body[i + 1] === '*') {
        i++;
        if (body[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return { negate, regex: new RegExp(`^${re}$`) };
  });
  return (path: string) => {
    const parents = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const p of patterns) if (parents.some((candidate) => p.regex.test(candidate))) excluded = !p.negate;
    return excluded;
  };
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else out.push(full);
  }
  return out;
}

const ignored = dockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, { image: { registry: string; repository: string; tag?: string } }>;
const images = ['operator', 'attester', 'engine-cpu'] as const;
/** Images the chart deploys itself; engine-cpu is a pool's server image, named in an InferencePool, not in values.yaml. */
const chartImages = ['operator', 'attester'] as const;

test('.dockerignore keeps node_modules, build output, git metadata and tests out of the build context', (t) => {
  for (const p of ['node_modules/yaml/package.json', 'operator/src/node_modules/x.js', 'dist/operator/src/main.js', '.git/config', 'test/chart/helm.ts', 'operator/src/kube/x.test.ts', 'docs/DEVELOPING.md', '.env']) {
    t.true(ignored(p), `${p} should be excluded`);
  }
  for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'operator/src/util/log.ts', 'attester/src/main.ts']) {
    t.false(ignored(p), `${p} should be in the context`);
  }
});

for (const image of images) {
  const dockerfile = join(repoRoot, 'images', image, 'Dockerfile');
  const text = readFileSync(dockerfile, 'utf8');
  const stages = parseDockerfile(text);

  test(`the ${image} Dockerfile is multi-stage with every base image pinned by digest`, (t) => {
    t.true(stages.length >= 2);
    const stageNames = new Set(stages.map((s) => s.name).filter(Boolean));
    for (const s of stages) {
      if (stageNames.has(s.from)) continue;
      t.regex(s.from, /^[a-z0-9.\-/:]+@sha256:[0-9a-f]{64}$/, `FROM ${s.from}`);
    }
  });

  test(`the ${image} runtime stage is distroless, has no RUN, and runs as a numeric non-root user`, (t) => {
    const runtime = stages[stages.length - 1]!;
    t.regex(runtime.from, /^gcr\.io\/distroless\/nodejs\d+-debian\d+:nonroot@sha256:/, 'a shell-less base');
    t.false(runtime.instructions.some((i) => i.op === 'RUN'), 'RUN needs a shell; the runtime stage has none');
    const users = runtime.instructions.filter((i) => i.op === 'USER');
    t.is(users.length, 1);
    const m = /^(\d+)(?::(\d+))?$/.exec(users[0]!.args.trim());
    t.truthy(m, `USER ${users[0]!.args} is numeric`);
    t.not(Number(m?.[1]), 0);
    if (m?.[2] !== undefined) t.not(Number(m[2]), 0);
    for (const copy of runtime.instructions.filter((i) => i.op === 'COPY')) t.regex(copy.args, /^--from=/, `runtime COPY ${copy.args} comes from the build stage`);
  });

  test(`every COPY source of the ${image} build is in the repository and in the build context`, (t) => {
    let checked = 0;
    for (const stage of stages) {
      for (const copy of stage.instructions.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
        if (/--from=/.test(copy.args)) continue;
        const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          const abs = join(repoRoot, src);
          t.true(existsSync(abs), `COPY ${src}: missing from the repository`);
          if (!existsSync(abs)) continue;
          const files = statSync(abs).isDirectory() ? filesUnder(abs).map((f) => relative(repoRoot, f)) : [src];
          const kept = files.filter((f) => !ignored(f));
          t.true(kept.length > 0, `COPY ${src}: everything is excluded by .dockerignore`);
          if (!statSync(abs).isDirectory()) t.false(ignored(src), `COPY ${src}: excluded by .dockerignore`);
          // Every TypeScript source tsc compiles must reach the builder.
          for (const f of files) if (f.endsWith('.ts') && !f.endsWith('.test.ts')) t.false(ignored(f), `${f} is excluded but tsc needs it`);
          checked++;
        }
      }
    }
    t.true(checked >= 4);
  });

  test(`the ${image} entrypoint is the JavaScript tsconfig.build.json emits for an existing source file`, (t) => {
    const runtime = stages[stages.length - 1]!;
    const entry = runtime.instructions.find((i) => i.op === 'ENTRYPOINT');
    t.truthy(entry);
    const argv = JSON.parse(entry!.args) as string[];
    t.is(argv[0], '/nodejs/bin/node');
    // node's own flags (V8 heap tuning) may come between node and the script, which is last.
    const script = argv[argv.length - 1];
    t.true(argv.slice(1, -1).every((a) => a.startsWith('--')), `only flags between node and the script: ${entry!.args}`);
    const m = /^\/app\/dist\/(.+)\.js$/.exec(script ?? '');
    t.truthy(m, `entrypoint ${script}`);
    const source = `${m![1]}.ts`;
    t.true(existsSync(join(repoRoot, source)), `${source} does not exist yet: the image would not build`);
    const build = JSON.parse(readFileSync(join(repoRoot, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { include: string[]; compilerOptions: { rootDir: string; outDir: string } };
    t.is(build.compilerOptions.rootDir, '.');
    t.is(build.compilerOptions.outDir, 'dist');
    t.true(build.include.some((dir) => source.startsWith(`${dir}/`)), `${source} is compiled by tsconfig.build.json`);
    t.regex(text, new RegExp(`test -f ${m![0].replace('/app/', '').replace(/[.]/g, '\\.')}`), 'the build stage checks the entrypoint was emitted');
  });

  if ((chartImages as readonly string[]).includes(image)) test(`the chart's default ${image} image is the one the ${image} Dockerfile builds`, (t) => {
    const header = /^# Image: (\S+)/m.exec(text);
    t.truthy(header, 'the Dockerfile names its image');
    const v = values[image]!.image;
    t.is(`${v.registry}/${v.repository}`, header?.[1] ?? '');
    t.regex(text, new RegExp(`org\\.opencontainers\\.image\\.title="${v.repository.split('/').pop()}"`));
  });
}

test("the chart's appVersion (the default image tag) is the package version", (t) => {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  t.is(chart.appVersion, pkg.version);
  for (const image of chartImages) t.is(values[image]!.image.tag ?? '', '', `${image}.image.tag defaults to appVersion`);
});
