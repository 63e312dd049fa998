/**
 * The deploy files (Dockerfile, deploy/kubernetes, deploy/systemd) say what issue #11
 * asks of them, and cannot rot silently: every switchyard command line in them goes
 * through the balancer's own parser, paths they name exist, and the linters there are
 * run (yamllint on the manifests, systemd-analyze verify on the unit). No container
 * runtime runs here, so nothing is built or deployed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configOf, dockerfileInstructions, execForm, linter, manifests, ROOT, unitKeys } from '../fixtures/deploy-files.ts';

/** How long a listener thread may overrun --shutdown-timeout before it is terminated (supervised-thread.ts). */
const THREAD_GRACE_MS = 2_000;
const LOCKED_NODE = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }).packages['node_modules/node']?.version;

test('Dockerfile: multi-stage on the pinned Node, production dependencies only, non-root, node src/main.ts as PID 1', () => {
  const instructions = dockerfileInstructions();
  const stages = instructions.filter((instruction) => instruction.keyword === 'FROM');
  assert.ok(stages.length >= 2, 'multi-stage');
  for (const stage of stages) assert.match(stage.args, new RegExp(`^node:${LOCKED_NODE?.replaceAll('.', '\\.')}-`), `every stage runs the Node.js of package-lock.json (${LOCKED_NODE}): ${stage.args}`);
  const finalAt = instructions.lastIndexOf(stages.at(-1) as (typeof instructions)[number]);
  const build = instructions.slice(0, finalAt);
  const final = instructions.slice(finalAt);
  assert.ok(build.some((instruction) => instruction.keyword === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(instruction.args)), 'dependencies: npm ci --omit=dev');
  assert.ok(!final.some((instruction) => instruction.keyword === 'RUN' && /\bnpm\b/.test(instruction.args)), 'no npm in the final stage');
  assert.ok(final.some((instruction) => instruction.keyword === 'COPY' && /^--from=\S+ \S*node_modules/.test(instruction.args)), 'node_modules comes from the build stage');
  const user = final.findLast((instruction) => instruction.keyword === 'USER')?.args;
  assert.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `the final stage runs as a user other than root (USER ${user})`);
  for (const copied of final.filter((instruction) => instruction.keyword === 'COPY' && !instruction.args.startsWith('--from'))) {
    for (const source of copied.args.split(/\s+/).slice(0, -1)) assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: it exists`);
  }
  assert.equal(final.find((instruction) => instruction.keyword === 'STOPSIGNAL')?.args, 'SIGTERM');

  const entrypoint = execForm(final.find((instruction) => instruction.keyword === 'ENTRYPOINT'), 'an ENTRYPOINT');
  assert.deepEqual(entrypoint.slice(0, 2), ['node', 'src/main.ts'], 'node itself is PID 1 (no npm, no shell), so SIGTERM reaches switchyard');
  const cmd = execForm(final.find((instruction) => instruction.keyword === 'CMD'), 'a CMD');
  const config = configOf([...entrypoint.slice(2), ...cmd]);
  assert.equal(config.host, '0.0.0.0', 'a container listens on all its addresses');
  assert.ok(config.admin !== null);

  const healthcheck = final.find((instruction) => instruction.keyword === 'HEALTHCHECK');
  assert.deepEqual(execForm(healthcheck, 'a HEALTHCHECK'), ['node', 'src/ctl/ctl.ts', 'healthz']);
  assert.equal(config.admin.port, 9901, 'ctl healthz asks the default admin port');
  assert.ok(existsSync(join(ROOT, 'src/ctl/ctl.ts')));
  assert.match(readFileSync(join(ROOT, '.dockerignore'), 'utf8'), /^node_modules$/m, 'the build context leaves out the local node_modules');
});

test('Kubernetes: readiness and liveness on /healthz, a headless Service for --backend-dns, a drain within the grace period, secrets from a Secret', () => {
  const documents = manifests();
  const deployment = documents.find((document) => document.kind === 'Deployment');
  assert.ok(deployment);
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  const env = Object.fromEntries((container.env as Array<{ name: string; valueFrom: { secretKeyRef: { name: string; key: string } } }>).map((entry) => [entry.name, entry.valueFrom.secretKeyRef]));
  const secret = documents.find((document) => document.kind === 'Secret' && document.metadata.name === env.SWITCHYARD_ADMIN_TOKEN?.name);
  assert.ok(secret, 'the admin token comes from a Secret in the manifests');
  const secretEnv = Object.fromEntries(Object.entries(env).map(([name, ref]) => [name, secret.stringData[ref.key] as string]));
  const config = configOf(container.args, secretEnv);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.admin?.host, '0.0.0.0', 'the admin listener is reachable for scrapes, hence the token');
  assert.notEqual(config.admin?.token, null);
  assert.ok(config.routing.sticky !== null && config.routing.sticky.secret === secretEnv.SWITCHYARD_STICKY_SECRET, 'every replica signs sticky cookies with the shared secret');
  assert.doesNotMatch(container.image, /:latest$|^[^:]+$/, 'a pinned image tag');

  const ports = Object.fromEntries((container.ports as Array<{ name: string; containerPort: number }>).map((port) => [port.name, port.containerPort]));
  assert.equal(ports.http, config.port);
  assert.equal(ports.admin, config.admin?.port);
  const readiness = (container.readinessProbe.exec.command as string[]).join(' ');
  assert.equal(readiness, `node src/ctl/ctl.ts --admin http://127.0.0.1:${config.admin?.port} healthz`);
  const liveness = (container.livenessProbe.exec.command as string[]).join(' ');
  assert.match(liveness, new RegExp(`fetch\\('http://127\\.0\\.0\\.1:${config.admin?.port}/healthz'`));

  const preStopMs = Number((container.lifecycle?.preStop?.exec?.command as string[] | undefined)?.[1] ?? 0) * 1000;
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > preStopMs + config.shutdownTimeoutMs + THREAD_GRACE_MS, 'SIGKILL never cuts the drain short');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  for (const value of Object.values(secret.stringData) as string[]) assert.ok(value.length >= 16, 'placeholders long enough to be accepted');

  // --backend-dns NAME:PORT names the headless Service.
  const [followed] = config.discovery.names;
  assert.equal(followed?.kind, 'dns', 'the backends are found with --backend-dns');
  const [name] = followed.name.split('.');
  const port = followed.port;
  const headless = documents.find((document) => document.kind === 'Service' && document.metadata.name === name);
  assert.ok(headless, `a Service ${name} for --backend-dns ${followed.name}:${port}`);
  assert.equal(headless.spec.clusterIP, 'None', 'headless: its name resolves to every ready pod');
  assert.ok((headless.spec.ports as Array<{ port: number }>).some((entry) => entry.port === Number(port)));
  const front = documents.find((document) => document.kind === 'Service' && document.spec.selector?.['app.kubernetes.io/name'] === 'switchyard');
  assert.ok(front && (front.spec.ports as Array<{ targetPort: string }>).some((entry) => entry.targetPort === 'http'), 'a Service for switchyard itself');
});

test('Kubernetes manifests pass yamllint', (t) => {
  const yamllint = linter('yamllint', 'yamllint');
  if (yamllint === null) return t.skip('yamllint is not installed (apt-get install yamllint)');
  const run = spawnSync(yamllint, ['-s', '-f', 'parsable', '-c', join(ROOT, 'deploy/yamllint.yaml'), join(ROOT, 'deploy/kubernetes')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test('systemd unit: hardened, SIGHUP reload, SIGTERM drain within TimeoutStopSec, PIDFile= that --pid-file keeps current', () => {
  const unit = unitKeys(join(ROOT, 'deploy/systemd/switchyard.service'));
  const one = (key: string): string | undefined => unit.get(key)?.at(-1);
  const [executable, script, ...args] = (one('ExecStart') ?? '').split(/\s+/);
  assert.match(executable ?? '', /\/node_modules\/\.bin\/node$/, 'the pinned Node.js that npm ci installs');
  assert.match(script ?? '', /\/src\/main\.ts$/);
  const config = configOf(args);
  assert.equal(config.pidFile, one('PIDFile'), '--pid-file is the unit\'s PIDFile=, which a takeover rewrites');
  assert.match(config.pidFile ?? '', new RegExp(`^/run/${one('RuntimeDirectory')}/`), 'in the unit\'s RuntimeDirectory, writable by its user');
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one('KillSignal'), 'SIGTERM');
  const stopMs = Number(/^(\d+)s$/.exec(one('TimeoutStopSec') ?? '')?.[1]) * 1000;
  assert.ok(stopMs > config.shutdownTimeoutMs + THREAD_GRACE_MS, `TimeoutStopSec ${one('TimeoutStopSec')} > --shutdown-timeout`);
  assert.ok(one('DynamicUser') === 'yes' || (one('User') !== undefined && one('User') !== 'root'), 'not root');
  for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['CapabilityBoundingSet', '']] as const) assert.equal(one(key), value, key);
});

test('systemd unit passes systemd-analyze verify', (t) => {
  const analyze = linter('systemd-analyze', 'systemd');
  if (analyze === null) return t.skip('systemd-analyze is not installed (apt-get install systemd)');
  // verify wants the executables to exist: this checkout stands in for /opt/switchyard.
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const unit = readFileSync(join(ROOT, 'deploy/systemd/switchyard.service'), 'utf8').replaceAll('/opt/switchyard', ROOT.replace(/\/$/, ''));
  writeFileSync(join(dir, 'switchyard.service'), unit);
  const run = spawnSync(analyze, ['verify', join(dir, 'switchyard.service')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.equal(run.stderr.trim() + run.stdout.trim(), '', 'no warning either (an unknown key is only a warning)');
});
