// Offline checks of the container setup (no Docker engine needed): the
// Dockerfile lints clean and its runtime stage is lean and non-root, the build
// context holds what the image reads at run time, and docker-compose.yml is a
// valid Compose file that starts db, mock and pipeline as docs/DESIGN.md §1 says.
// docker-compose (Debian's package, which brings python3-docker along) is
// installed by .ci/run; without it those tests skip (test/support/tools.ts).
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { validate } from 'dockerfile-utils';
import { parse as parseYaml } from 'yaml';
import { onPath, withoutDockerCompose } from './support/tools.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOCKERFILE = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const skipCompose = withoutDockerCompose();

/** docker-compose on PATH (the tests that call this skip, or fail under REQUIRE_TEST_TOOLS, without it). */
function dockerComposePath(): string {
  const found = onPath('docker-compose');
  if (!found) throw new Error('docker-compose is not on PATH');
  return found;
}

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  base: string;
  name: string | null;
  instructions: Instruction[];
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === null)) return;
    const continues = line.endsWith('\\');
    const body = continues ? line.slice(0, -1).trim() : line;
    pending = pending ? { text: `${pending.text} ${body}`, line: pending.line } : { text: body, line: i + 1 };
    if (!continues) {
      const m = /^(\S+)\s*(.*)$/s.exec(pending.text);
      if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: pending.line });
      pending = null;
    }
  });
  return out;
}

/** Build stages, with global ARG defaults substituted into FROM. */
function stages(text: string): Stage[] {
  const globalArgs = new Map<string, string>();
  const out: Stage[] = [];
  for (const ins of instructions(text)) {
    if (ins.keyword === 'FROM') {
      const [image = '', as, name] = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const base = image.replace(/\$\{?(\w+)\}?/g, (_, v: string) => globalArgs.get(v) ?? '');
      out.push({ base, name: as?.toUpperCase() === 'AS' ? (name ?? null) : null, instructions: [] });
    } else if (out.length === 0) {
      const m = /^(\w+)=(.*)$/.exec(ins.args);
      if (ins.keyword === 'ARG' && m) globalArgs.set(m[1]!, m[2]!.replace(/^["']|["']$/g, ''));
    } else {
      out.at(-1)!.instructions.push(ins);
    }
  }
  return out;
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const runs = (stage: Stage) => all(stage, 'RUN').map((i) => i.args);
/** Every `npm ci` / `npm install` command line in a stage's RUNs. */
const npmInstalls = (stage: Stage) =>
  runs(stage)
    .flatMap((r) => r.split(/&&|;|\|\|/))
    .map((c) => c.trim())
    .filter((c) => /^npm\s+(ci|install|i)\b/.test(c));

/** Where COPY puts its destination, resolved against the stage's WORKDIR. */
function copies(stage: Stage): { from: string | null; sources: string[]; dest: string }[] {
  let workdir = '/';
  const out: { from: string | null; sources: string[]; dest: string }[] = [];
  for (const ins of stage.instructions) {
    if (ins.keyword === 'WORKDIR') workdir = path.posix.resolve(workdir, ins.args);
    if (ins.keyword !== 'COPY') continue;
    const words = ins.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length) ?? null;
    const paths = words.filter((w) => !w.startsWith('--'));
    const dest = paths.pop()!;
    out.push({ from, sources: paths, dest: path.posix.resolve(workdir, dest) });
  }
  return out;
}

/** A HEALTHCHECK command as the `/bin/sh -c` line Docker runs (exec form quoted word by word). */
function shellForm(args: string): string {
  return args.startsWith('[') ? (JSON.parse(args) as string[]).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ') : args;
}

/** A stand-in service: 200 on the given paths, 503 on every other. */
async function fakeService(okPaths: string[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.statusCode = okPaths.includes(req.url ?? '') ? 200 : 503;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const { server, port } = await fakeService([]);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Exit code of a command. Asynchronous: the stand-in services it calls live in
 * this process, so the event loop must keep running meanwhile.
 */
function exitCode(file: string, args: string[], env: Record<string, string> = {}): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore', timeout: 20_000, env: { ...process.env, ...env } });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

const runHealthcheck = (command: string, env: Record<string, string>) => exitCode('/bin/sh', ['-c', command], env);

describe('Dockerfile', () => {
  const parsed = stages(DOCKERFILE);
  const build = parsed[0]!;
  const runtime = parsed.at(-1)!;

  it('has no errors or warnings from the dockerfile-utils linter', () => {
    const problems = validate(DOCKERFILE).map(
      (d) =>
        `line ${d.range.start.line + 1}: ${d.severity === 1 ? 'error' : 'warning'}: ${typeof d.message === 'string' ? d.message : d.message.value}`,
    );
    expect(problems).toEqual([]);
  });

  it('is multi-stage: a build stage installs dev dependencies and compiles with `npm run build`', () => {
    expect(parsed.length).toBeGreaterThanOrEqual(2);
    const installs = npmInstalls(build);
    expect(installs.length).toBeGreaterThan(0);
    for (const cmd of installs) {
      expect(cmd).toMatch(/^npm ci\b/);
      expect(cmd).not.toMatch(/--omit[= ]dev|--production/);
    }
    expect(runs(build).some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });

  it('runs the runtime stage on a slim image of an even-numbered (LTS) Node, 22 or newer', () => {
    const m = /^node:(\d+)[\w.-]*-slim$/.exec(runtime.base);
    expect(m, `runtime base image ${runtime.base}`).not.toBeNull();
    const major = Number(m![1]);
    expect(major % 2).toBe(0);
    expect(major).toBeGreaterThanOrEqual(22);
  });

  it('installs only production dependencies in the runtime stage: npm ci --omit=dev --omit=optional', () => {
    const installs = npmInstalls(runtime);
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(/^npm ci\b/);
    expect(installs[0]).toMatch(/--omit[= ]dev\b/);
    expect(installs[0]).toMatch(/--omit[= ]optional\b/);
    // No node_modules (dev dependencies included) carried over from another stage.
    for (const c of copies(runtime)) {
      if (c.from !== null) expect(c.sources.join(' ')).not.toMatch(/node_modules/);
    }
  });

  it('runs as the non-root node user with NODE_ENV=production', () => {
    const users = all(runtime, 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).toBe('node');
    const env = all(runtime, 'ENV').map((i) => i.args);
    expect(env.some((e) => /\bNODE_ENV[= ]"?production"?\b/.test(e))).toBe(true);
  });

  it('puts dist, migrations and data side by side at the package root the app reads them from', () => {
    const dests = new Map(copies(runtime).map((c) => [c.dest, c]));
    const dist = [...dests.keys()].find((d) => d.endsWith('/dist'));
    expect(dist, 'COPY of dist/ in the runtime stage').toBeDefined();
    const root = path.posix.dirname(dist!);
    expect(dests.get(dist!)?.from).toBe(build.name);
    expect(dests.has(`${root}/migrations`)).toBe(true);
    expect(dests.has(`${root}/data`)).toBe(true);
    expect(dests.has(root) || dests.has(`${root}/package.json`)).toBe(true); // package.json (ESM "type")
  });

  it('exposes 5000 and 8000 and runs the pipeline by default', () => {
    const exposed = all(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map((p) => p.replace(/\/tcp$/, '')));
    expect(exposed).toEqual(expect.arrayContaining(['5000', '8000']));
    const cmd = all(runtime, 'CMD').at(-1);
    expect(JSON.parse(cmd!.args)).toEqual(['node', 'dist/main.js', 'pipeline']);
  });

  describe('HEALTHCHECK (Node fetch, no curl in the slim image)', () => {
    const healthcheck = all(runtime, 'HEALTHCHECK').at(-1);
    const command = healthcheck?.args.replace(/^(--\S+\s+)*CMD\s+/, '') ?? '';
    let servers: Server[] = [];
    afterAll(async () => {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    });

    it('is declared with node and without curl or wget', () => {
      expect(healthcheck).toBeDefined();
      expect(command).toMatch(/^node\b/);
      expect(command).not.toMatch(/\b(curl|wget)\b/);
    });

    it('passes when the pipeline is ready, or when the mock is healthy', async () => {
      const pipeline = await fakeService(['/api/ready']);
      const mock = await fakeService(['/api/health']);
      servers = [pipeline.server, mock.server];
      const down = String(await closedPort());
      expect(await runHealthcheck(shellForm(command), { PIPELINE_PORT: String(pipeline.port), MOCK_PORT: down })).toBe(0);
      expect(await runHealthcheck(shellForm(command), { PIPELINE_PORT: down, MOCK_PORT: String(mock.port) })).toBe(0);
    });

    it('fails when nothing answers, or the pipeline answers not ready (503)', async () => {
      const notReady = await fakeService([]);
      servers.push(notReady.server);
      const down = String(await closedPort());
      expect(await runHealthcheck(shellForm(command), { PIPELINE_PORT: down, MOCK_PORT: down })).toBe(1);
      expect(await runHealthcheck(shellForm(command), { PIPELINE_PORT: String(notReady.port), MOCK_PORT: down })).toBe(1);
    });
  });
});

// ------------------------------------------------------------ build context

describe.skipIf(skipCompose)('.dockerignore', () => {
  it('sends the manifest, lock file, sources, migrations and data file, and nothing local', () => {
    // docker-py, which docker-compose builds with, applies Docker's .dockerignore
    // rules; run it with docker-compose's own Python (its shebang), which has it.
    const python = /^#!\s*(\S*python\S*)/.exec(readFileSync(dockerComposePath(), 'utf8').slice(0, 200))?.[1];
    if (!python) throw new Error(`${dockerComposePath()} is not the Python docker-compose; install Debian's docker-compose`);
    const script = [
      'import json, sys',
      'from docker.utils.build import exclude_paths',
      'root = sys.argv[1]',
      'with open(root + "/.dockerignore") as f:',
      '    patterns = [l.strip() for l in f.read().splitlines() if l.strip() and not l.strip().startswith("#")]',
      'print(json.dumps(sorted(exclude_paths(root, patterns, dockerfile="Dockerfile"))))',
    ].join('\n');
    const res = spawnSync(python, ['-c', script, ROOT], { encoding: 'utf8' });
    if (res.error || res.status !== 0) {
      throw new Error(
        `cannot evaluate .dockerignore with ${python} (${res.error?.message ?? res.stderr.trim()}); install Debian's docker-compose`,
      );
    }
    const context = JSON.parse(res.stdout) as string[];
    expect(context).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'src/main.ts',
        'src/core/config.ts',
        'data/customers.json',
        'migrations/0001_customers.sql',
      ]),
    );
    const leaked = context.filter((p) => /^(node_modules|dist|\.data|\.git|\.env|test|coverage)(\/|$)/.test(p));
    expect(leaked).toEqual([]);
  });
});

// ---------------------------------------------------------- docker-compose

interface ComposeService {
  image?: string;
  build?: { context: string } | string;
  container_name?: string;
  command?: string[] | string;
  environment?: Record<string, string | null>;
  ports?: ({ published: number | string; target: number } | string)[];
  volumes?: (string | { source: string; target: string })[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
}

interface ComposeConfig {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

function dockerCompose(...args: string[]): SpawnSyncReturns<string> {
  const res = spawnSync(dockerComposePath(), ['-f', COMPOSE_FILE, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (res.error) throw res.error;
  return res;
}

let parsedConfig: ComposeConfig | undefined;
/** `docker-compose config`, parsed: the file as Compose resolves it. */
function composeConfig(): ComposeConfig {
  if (!parsedConfig) {
    const res = dockerCompose('config');
    if (res.status !== 0) throw new Error(`docker-compose config failed: ${res.stderr}`);
    parsedConfig = parseYaml(res.stdout) as ComposeConfig;
  }
  return parsedConfig;
}

const healthTest = (s: ComposeService | undefined) => {
  const t = s?.healthcheck?.test;
  return Array.isArray(t) ? t.join(' ') : (t ?? '');
};

describe.skipIf(skipCompose)('docker-compose.yml', () => {
  // Every test asks for the config itself, so a missing docker-compose fails
  // each of them with the reason.
  it('is valid: `docker-compose config -q` exits 0', () => {
    const res = dockerCompose('config', '-q');
    expect(res.status, res.stderr).toBe(0);
    // Compose's own complaints (unset variables, ignored keys); not Python noise.
    expect(res.stderr.split('\n').filter((l) => /^(WARNING|ERROR)\b/.test(l))).toEqual([]);
  });

  it('starts the containers db, mock and pipeline', () => {
    const config = composeConfig();
    const names = Object.fromEntries(Object.entries(config.services).map(([k, s]) => [k, s.container_name]));
    expect(names).toEqual({ db: 'db', mock: 'mock', pipeline: 'pipeline' });
  });

  it('runs PostgreSQL 15 with database customer_db on a named volume, healthy when pg_isready', () => {
    const config = composeConfig();
    const db = config.services.db!;
    expect(db.image).toMatch(/^postgres:15(\b|$)/);
    expect(db.environment?.POSTGRES_DB).toBe('customer_db');
    expect(db.environment?.POSTGRES_PASSWORD).toBeTruthy();
    expect(db.environment?.POSTGRES_USER ?? 'postgres').toBe('postgres'); // `psql -U postgres`
    const dataVolume = (db.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target]));
    expect(dataVolume.some(([src, dst]) => dst === '/var/lib/postgresql/data' && src! in (config.volumes ?? {}))).toBe(true);
    expect(healthTest(db)).toMatch(/pg_isready/);
  });

  it('builds mock and pipeline from this Dockerfile and picks the service by command, on ports 5000 and 8000', () => {
    const config = composeConfig();
    for (const [name, port] of [
      ['mock', 5000],
      ['pipeline', 8000],
    ] as const) {
      const s = config.services[name]!;
      const context = typeof s.build === 'string' ? s.build : s.build?.context;
      expect(context && path.resolve(ROOT, context)).toBe(ROOT);
      expect(s.command).toEqual(['node', 'dist/main.js', name]);
      const published = (s.ports ?? []).map((p) => (typeof p === 'string' ? p : `${p.published}:${p.target}`));
      expect(published).toContain(`${port}:${port}`);
    }
  });

  it('checks health with node (no curl): the mock on /api/health, the pipeline on /api/ready', () => {
    const config = composeConfig();
    expect(healthTest(config.services.mock)).toMatch(/^CMD node .*127\.0\.0\.1:5000\/api\/health/);
    expect(healthTest(config.services.pipeline)).toMatch(/^CMD node .*127\.0\.0\.1:8000\/api\/ready/);
  });

  it('starts the pipeline only once db and mock are healthy', () => {
    const config = composeConfig();
    expect(config.services.pipeline!.depends_on).toEqual({
      db: { condition: 'service_healthy' },
      mock: { condition: 'service_healthy' },
    });
  });

  it('points the pipeline at the db container for its database and at the mock container for its source', () => {
    const config = composeConfig();
    const env = config.services.pipeline!.environment ?? {};
    const db = new URL(env.DATABASE_URL ?? '');
    expect(db.protocol).toMatch(/^postgres(ql)?:$/);
    expect(db.hostname).toBe('db');
    expect(db.port || '5432').toBe('5432');
    expect(db.pathname).toBe('/customer_db');
    expect(db.username).toBe('postgres');
    expect(decodeURIComponent(db.password)).toBe(config.services.db!.environment?.POSTGRES_PASSWORD);
    expect(env.MOCK_SERVER_URL).toBe('http://mock:5000');
  });

  describe('healthcheck commands, run against stand-in services', () => {
    let servers: Server[] = [];
    afterAll(async () => {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    });

    it('exit 0 when the endpoint answers 200 and 1 when it answers 503 or nothing listens', async () => {
      const config = composeConfig();
      const up = await fakeService(['/api/health', '/api/ready']);
      const sick = await fakeService([]);
      servers = [up.server, sick.server];
      const down = await closedPort();
      for (const name of ['mock', 'pipeline']) {
        const [kind, ...argv] = config.services[name]!.healthcheck!.test as string[];
        expect(kind).toBe('CMD');
        const at = (port: number) => argv.map((a) => a.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`));
        const run = (port: number) => exitCode(argv[0]!, at(port).slice(1));
        expect(await run(up.port), `${name} healthy`).toBe(0);
        expect(await run(sick.port), `${name} answering 503`).toBe(1);
        expect(await run(down), `${name} down`).toBe(1);
      }
    });
  });
});
