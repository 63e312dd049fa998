/**
 * @module The command line: its flags are the settings of the schema (schema.ts), read
 * over the config file's when `--config FILE` is given (flags override the file), then
 * validated once into a frozen `Config` (build-config.ts). A bad flag becomes a
 * `UsageError` whose one-line message names the flag, the value and what is allowed; a
 * bad file one line per problem. The entry point prints them and exits with code 2.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { buildConfig } from './build-config.ts';
import type { Config } from './config.ts';
import { readConfigFile } from './config-file.ts';
import { describeParseError, UsageError } from './flag-values.ts';
import { checkTakeover } from './takeover-flags.ts';
import { REPEATABLE, SETTINGS } from './schema.ts';
import { SettingValues, type RawValue } from './setting-values.ts';

export { UsageError };
export { USAGE } from './usage.ts';

/** Flags that say what this command does, not how the balancer runs: not settings. */
export const COMMAND_FLAGS = ['help', 'takeover'] as const;

const OPTIONS: ParseArgsOptionsConfig = {
  ...Object.fromEntries(
    SETTINGS.map(({ flag, form }) => [flag, form === 'switch' ? { type: 'boolean' } : { type: 'string', multiple: REPEATABLE.has(flag) }] as const),
  ),
  // Not settings: --help prints the usage; --takeover asks the running switchyard to hand
  // over (src/takeover/).
  ...Object.fromEntries(COMMAND_FLAGS.map((flag) => [flag, { type: 'boolean' }] as const)),
};

/** `warnings`: lines to print at start (a certificate served though expired). `source`: what
 * the command line said, applied over the file again at each reload. `takeover`: ask the
 * running switchyard to hand over to a new process with this config (--takeover). */
export type CliResult =
  | { readonly kind: 'help' }
  | { readonly kind: 'run'; readonly config: Config; readonly warnings: readonly string[]; readonly source: ConfigSource; readonly takeover: boolean };

/** Where a config comes from: the file (null without --config) and the flags over it. */
export interface ConfigSource {
  readonly file: string | null;
  readonly flags: ReadonlyMap<string, RawValue>;
  /** --watch-config, from the flag or the file at start. */
  readonly watch: boolean;
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliResult {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  const { values, tokens } = parsed;
  if (values.help) return { kind: 'help' };
  refuseRepeatedFlags(tokens);
  const flags = new Map<string, RawValue>();
  const commands: ReadonlySet<string> = new Set(COMMAND_FLAGS);
  for (const [flag, value] of Object.entries(values)) if (value !== undefined && !commands.has(flag)) flags.set(flag, value as RawValue);
  const file = typeof values.config === 'string' ? values.config : null;
  const source: ConfigSource = { file, flags, watch: false };
  const { config, warnings, watch } = loadConfig(source, env);
  const takeover = checkTakeover(values.takeover === true, config);
  return { kind: 'run', config, warnings, source: { ...source, watch }, takeover };
}

/** Reads the file (when there is one), lays the flags over it and validates the whole;
 * at start and at each reload. Throws a UsageError with every problem found. */
export function loadConfig(source: ConfigSource, env: NodeJS.ProcessEnv = process.env, previous: Config | null = null): { config: Config; warnings: string[]; watch: boolean } {
  const values = new SettingValues(source.file);
  if (source.file !== null && !readConfigFile(source.file, values)) values.throwProblems();
  for (const [flag, value] of source.flags) values.set(flag, value, { from: 'flag' });
  const { config, warnings } = buildConfig(values, { env, previous });
  if (values.on('watch-config') && source.file === null) throw new UsageError('--watch-config needs --config FILE: there is no file to watch');
  return { config, warnings, watch: values.on('watch-config') };
}

/** A flag given twice would silently take its last value: only the lists repeat. */
function refuseRepeatedFlags(tokens: ReadonlyArray<{ kind: string; name?: string; value?: string | undefined }>): void {
  const seen = new Map<string, string | undefined>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === undefined || REPEATABLE.has(token.name)) continue;
    if (seen.has(token.name)) {
      const values = [seen.get(token.name), token.value].map((value) => (value === undefined ? '(no value)' : JSON.stringify(value)));
      throw new UsageError(`--${token.name} is given twice (${values.join(' and ')}); give each flag once`);
    }
    seen.set(token.name, token.value);
  }
}
