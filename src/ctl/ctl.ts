/**
 * @module `switchyard ctl` (also `npm run ctl --`): the terminal client of the runtime
 * API (src/admin/backends-api.ts). Each command is one request to the admin listener and
 * prints one line saying what happened; exit 0 done, 1 the admin refused (its one-line
 * reason on stderr) or could not be reached, 2 bad usage.
 */
import { parseArgs } from 'node:util';
import type { BackendView } from '../admin/backend-view.ts';
import { backendOrigin, describeParseError } from '../config/flag-values.ts';
import { MAX_WEIGHT } from '../shared/layout.ts';
import { adminClient, CTL_EXIT, CtlError, type AdminClient } from './admin-client.ts';
import { statusTable } from './status-table.ts';

const DEFAULT_ADMIN = 'http://127.0.0.1:9901';

export const CTL_USAGE = `usage: switchyard ctl [--admin URL] [--token T] <command>
       npm run ctl -- [--admin URL] [--token T] <command>

Steers a running balancer through its admin listener (the runtime API, /backends).

commands:
  status                 one line per backend: id, origin, state, health, weight/effective,
                         in flight, requests, 5xx, p99
  backends               every backend as JSON (GET /backends)
  drain ID|ORIGIN        no new requests; those in flight finish
  disable ID|ORIGIN      out of rotation (maintenance); those in flight finish
  enable ID|ORIGIN       back in rotation after drain or disable
  weight ID|ORIGIN N     set its weight, a whole number from 1 to ${MAX_WEIGHT}
  add ORIGIN [WEIGHT]    add a backend http://host:port (weight 1 unless given)
  remove ID|ORIGIN       drain, wait for its requests in flight (up to the balancer's
                         --shutdown-timeout), then remove it
  healthz                GET /healthz: prints its line; exit 0 when it answers 200, 1
                         otherwise (a container HEALTHCHECK or a Kubernetes exec probe)
  takeover               a new process with the balancer's own flags takes over its
                         listening sockets; it drains and exits (POST /takeover)

A backend is named by its id (the slot number \`status\` lists) or its origin
(http://127.0.0.1:8081).

flags:
  --admin URL   the admin listener (default ${DEFAULT_ADMIN}, or env SWITCHYARD_ADMIN)
  --token T     its bearer token, when it was started with --admin-token
                (default: env SWITCHYARD_ADMIN_TOKEN)
  -h, --help    this text

exit codes: 0 done; 1 the admin listener refused (its reason on stderr) or could not be
reached; 2 bad usage`;

interface Command {
  /** The arguments, as usage shows them. */
  readonly args: string;
  readonly min: number;
  readonly max: number;
  /** Checks the arguments (CtlError USAGE), sends the request, returns what to print. */
  readonly run: (client: AdminClient, args: readonly string[]) => Promise<string>;
}

/** A state change: POST /backends/{id}/<action>, printed as `drained backend 1 (...): state draining`. */
const stateChange = (action: string, done: string): Command => ({
  args: 'ID|ORIGIN',
  min: 1,
  max: 1,
  run: async (client, [name]) => {
    const backend = asBackend(await client.request('POST', `/backends/${backendPath(action, name)}/${action}`));
    return `${done} ${describe(backend)}: state ${backend.state}`;
  },
});

const COMMANDS: Readonly<Record<string, Command>> = {
  status: { args: '', min: 0, max: 0, run: async (client) => statusTable(asList(await client.request('GET', '/backends'))) },
  backends: { args: '', min: 0, max: 0, run: async (client) => JSON.stringify(asList(await client.request('GET', '/backends')), null, 2) },
  drain: stateChange('drain', 'drained'),
  disable: stateChange('disable', 'disabled'),
  enable: stateChange('enable', 'enabled'),
  weight: {
    args: 'ID|ORIGIN N',
    min: 2,
    max: 2,
    run: async (client, [name, raw]) => {
      const path = backendPath('weight', name);
      const weight = weightArgument('weight', raw);
      const backend = asBackend(await client.request('PUT', `/backends/${path}/weight`, { weight }));
      return `set weight of ${describe(backend)} to ${backend.weight} (effective ${backend.effectiveWeight})`;
    },
  },
  add: {
    args: 'ORIGIN [WEIGHT]',
    min: 1,
    max: 2,
    run: async (client, [raw, rawWeight]) => {
      const origin = originArgument('add', raw ?? '');
      const weight = rawWeight === undefined ? 1 : weightArgument('add', rawWeight);
      const backend = asBackend(await client.request('POST', '/backends', { origin, weight }));
      return `added ${describe(backend)} with weight ${backend.weight}: state ${backend.state}`;
    },
  },
  remove: {
    args: 'ID|ORIGIN',
    min: 1,
    max: 1,
    run: async (client, [name]) => {
      const answer = (await client.request('DELETE', `/backends/${backendPath('remove', name)}`)) as { id?: unknown; origin?: unknown; stillRunning?: unknown };
      const left = typeof answer.stillRunning === 'number' ? answer.stillRunning : 0;
      const running = left > 0 ? `; ${left} request${left === 1 ? ' was' : 's were'} still running at the deadline` : '';
      return `removed backend ${String(answer.id)} (${String(answer.origin)})${running}`;
    },
  },
  healthz: { args: '', min: 0, max: 0, run: (client) => client.line('/healthz') },
  takeover: {
    args: '',
    min: 0,
    max: 0,
    run: async (client) => {
      const answer = (await client.request('POST', '/takeover')) as { successor?: unknown; predecessor?: unknown };
      return `pid ${String(answer.successor)} serves now; pid ${String(answer.predecessor)} drains and exits`;
    },
  },
};

/** Runs `switchyard ctl <argv>`; resolves with the exit code. */
export async function runCtl(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const { values, positionals } = parseOptions(argv);
    if (values.help) {
      console.log(CTL_USAGE);
      return CTL_EXIT.OK;
    }
    const [name, ...args] = positionals;
    if (name === undefined) throw new CtlError(CTL_EXIT.USAGE, `which command? one of ${Object.keys(COMMANDS).join(', ')} (see ctl --help)`);
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) {
      throw new CtlError(CTL_EXIT.USAGE, `unknown command ${JSON.stringify(name)}: expected one of ${Object.keys(COMMANDS).join(', ')} (see ctl --help)`);
    }
    if (args.length < command.min || args.length > command.max) {
      const given = args.length === 0 ? 'none' : args.map((arg) => JSON.stringify(arg)).join(' ');
      throw new CtlError(CTL_EXIT.USAGE, `ctl ${name} takes ${command.args === '' ? 'no arguments' : command.args} (got ${given}); see ctl --help`);
    }
    const client = adminClient(adminUrl(values.admin ?? env.SWITCHYARD_ADMIN), values.token ?? env.SWITCHYARD_ADMIN_TOKEN ?? null);
    console.log(await command.run(client, args));
    return CTL_EXIT.OK;
  } catch (error) {
    if (!(error instanceof CtlError)) throw error;
    console.error(`switchyard ctl: ${error.message}`);
    return error.exitCode;
  }
}

function parseOptions(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { admin: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new CtlError(CTL_EXIT.USAGE, describeParseError(error).replace('see --help', 'see ctl --help'));
  }
}

function adminUrl(raw: string | undefined): string {
  const given = raw ?? DEFAULT_ADMIN;
  const source = raw === undefined ? 'the default admin URL' : '--admin (or SWITCHYARD_ADMIN)';
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new CtlError(CTL_EXIT.USAGE, `${source} ${JSON.stringify(given)} is not allowed: expected a URL like ${DEFAULT_ADMIN}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CtlError(CTL_EXIT.USAGE, `${source} ${JSON.stringify(given)} is not allowed: expected an http:// or https:// URL like ${DEFAULT_ADMIN}`);
  }
  return given.replace(/\/+$/, '');
}

/** A backend's id as it goes into the path: the slot number, or the origin URL-encoded. */
function backendPath(command: string, raw: string | undefined): string {
  const name = raw ?? '';
  return /^\d+$/.test(name) ? name : encodeURIComponent(originArgument(command, name));
}

function originArgument(command: string, raw: string): string {
  try {
    return backendOrigin(raw);
  } catch (error) {
    // flag-values.ts words it for --backend: keep only the reason.
    const why = error instanceof Error ? error.message.replace(/^.*? is not allowed: /, '') : String(error);
    throw new CtlError(CTL_EXIT.USAGE, `ctl ${command}: ${JSON.stringify(raw)} is not a backend id or origin: ${why}`);
  }
}

function weightArgument(command: string, raw: string | undefined): number {
  const weight = /^\d+$/.test(raw ?? '') ? Number(raw) : NaN;
  if (!Number.isSafeInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
    throw new CtlError(CTL_EXIT.USAGE, `ctl ${command}: weight ${JSON.stringify(raw)} is not allowed: expected a whole number from 1 to ${MAX_WEIGHT}`);
  }
  return weight;
}

function describe(backend: BackendView): string {
  return `backend ${backend.id} (${backend.origin})`;
}

/** The answer's shape, checked just enough that a stranger's JSON is not printed as ours. */
function asBackend(value: unknown): BackendView {
  const candidate = value as Partial<BackendView> | null;
  if (typeof candidate?.id !== 'number' || typeof candidate.origin !== 'string' || typeof candidate.state !== 'string') {
    throw new CtlError(CTL_EXIT.FAILED, `the admin listener answered with something other than a backend: ${JSON.stringify(value).slice(0, 120)}`);
  }
  return candidate as BackendView;
}

function asList(value: unknown): BackendView[] {
  if (!Array.isArray(value)) throw new CtlError(CTL_EXIT.FAILED, `the admin listener answered with something other than a list of backends: ${JSON.stringify(value).slice(0, 120)}`);
  return value.map(asBackend);
}

if (import.meta.main) process.exitCode = await runCtl(process.argv.slice(2));
