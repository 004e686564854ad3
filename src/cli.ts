// The operator's command line: `customer-pipeline <command>` (bin/customer-pipeline.js).
// Services (start, mock, pipeline) run as `npm start` does; the other commands
// do one thing and exit: 0 success, 1 failed, 2 usage or settings, 3 conflict.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, PACKAGE_ROOT, type Config } from './core/config.js';
import { CliError, EXIT, printJson } from './cli/output.js';
import type { Mode } from './serve.js';
import type { IngestCommandOptions } from './cli/ingest.js';

// Each command loads what it needs when it runs: `--help` stays instant.
const commands = {
  changes: () => import('./cli/changes.js'),
  generate: () => import('./cli/generate.js'),
  ingest: () => import('./cli/ingest.js'),
  records: () => import('./cli/records.js'),
  serve: () => import('./serve.js'),
};

const version = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let jsonMode = false;

function config(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`invalid setting: ${err.message}`, EXIT.usage);
    throw err;
  }
}

const integer =
  (name: string, min: number, max: number) =>
  (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`${name} must be a whole number.`);
    const n = Number(raw);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`);
    return n;
  };

/**
 * In a checkout run from source, builds the dashboard first when it is
 * missing (as `npm start` does); elsewhere (the compiled package) `/` says
 * how to build it.
 */
async function ensureDashboard(): Promise<void> {
  const script = path.join(PACKAGE_ROOT, 'web', 'ensure-built.ts');
  if (existsSync(path.join(PACKAGE_ROOT, 'dist', 'web', 'index.html')) || !existsSync(script) || !import.meta.url.endsWith('.ts')) return;
  try {
    const mod = (await import(pathToFileURL(script).href)) as { ensureWebBuilt(): Promise<boolean> };
    await mod.ensureWebBuilt();
  } catch (err) {
    process.stderr.write(`customer-pipeline: the dashboard could not be built (${(err as Error).message}); / will say so\n`);
  }
}

function service(mode: Mode) {
  return async () => {
    if (mode !== 'mock') await ensureDashboard();
    await (await commands.serve()).serve(mode);
  };
}

const jsonOption = () => new Option('--json', 'print one JSON object (for scripts) instead of tables');
const urlOption = () =>
  new Option('--url <pipeline>', 'use a running pipeline (its base URL, e.g. http://127.0.0.1:8000) instead of the database');
const apiKeyOption = () => new Option('--api-key <key>', "the pipeline's API key, when it has one (with --url; default: INGEST_API_KEY)");

export function buildProgram(): Command {
  const program = new Command()
    .name('customer-pipeline')
    .description(
      'Pulls customer records from a paginated source API into PostgreSQL and serves them back.\n' +
        'Settings come from the environment (README "Settings", .env.example): DATABASE_URL, MOCK_SERVER_URL, ...',
    )
    .version(version, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureHelp({ showGlobalOptions: true });

  program
    .command('start')
    .description('run the mock source (:5000) and the pipeline (:8000) with its dashboard, as `npm start` does')
    .action(service('all'));
  program.command('mock').description('run the mock source API alone (MOCK_PORT, MOCK_DATA_FILE or MOCK_GENERATE)').action(service('mock'));
  program
    .command('pipeline')
    .description('run the pipeline alone: ingest and read API, dashboard at / (PIPELINE_PORT, DATABASE_URL, MOCK_SERVER_URL)')
    .action(service('pipeline'));

  program
    .command('ingest')
    .description('run one ingest, with a progress bar (pages, records/s, ETA), then a summary of the counts')
    .addOption(urlOption())
    .addOption(new Option('--source <url>', 'source API to ingest from, in process (default: MOCK_SERVER_URL, else the local mock)'))
    .addOption(apiKeyOption())
    .addOption(
      new Option('--dry-run', 'preview: the whole run and its change set (customer-pipeline changes <run>), nothing written to customers'),
    )
    .addOption(new Option('--delete-missing', 'delete the stored customers the source did not return (default: INGEST_DELETE_MISSING)'))
    .addOption(new Option('--allow-mass-delete', 'lift the mass-delete guard (INGEST_DELETE_MAX_PERCENT) for this run'))
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nWithout --url the ingest runs in this process on the database the settings name (DATABASE_URL, else the\n' +
        'embedded PostgreSQL). Exit codes: 0 the run succeeded, 1 it failed, 2 usage or settings, 3 another ingest runs.',
    )
    .action(async (opts: IngestCommandOptions) => {
      jsonMode = opts.json === true;
      await (await commands.ingest()).ingestCommand(config(), opts);
    });

  program
    .command('runs')
    .description('recent ingest runs, newest first, with their counts')
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option('-n, --limit <n>', 'how many', integer('--limit', 1, 1000), 20)
    .option('-p, --page <n>', 'page of that many', integer('--page', 1, 1_000_000_000), 1)
    .addOption(jsonOption())
    .action(async (opts: { url?: string; apiKey?: string; limit: number; page: number; json?: boolean }) => {
      jsonMode = opts.json === true;
      await (await commands.records()).runsCommand(config(), opts);
    });

  program
    .command('rejected')
    .description('records of a run that broke the schema, with their reasons')
    .argument('<run>', 'run id', integer('<run>', 1, 2 ** 31 - 1))
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option('-n, --limit <n>', 'how many', integer('--limit', 1, 1000), 50)
    .option('-p, --page <n>', 'page of that many', integer('--page', 1, 1_000_000_000), 1)
    .addOption(jsonOption())
    .action(async (run: number, opts: { url?: string; apiKey?: string; limit: number; page: number; json?: boolean }) => {
      jsonMode = opts.json === true;
      await (await commands.records()).rejectedCommand(config(), run, opts);
    });

  program
    .command('changes')
    .description("a run's change set: each customer it inserted, updated or deleted, and what changed")
    .argument('<run>', 'run id', integer('<run>', 1, 2 ** 31 - 1))
    .addOption(new Option('--change <kind>', 'only changes of this kind').choices(['insert', 'update', 'delete']))
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option('-n, --limit <n>', 'how many', integer('--limit', 1, 1000), 50)
    .option('-p, --page <n>', 'page of that many', integer('--page', 1, 1_000_000_000), 1)
    .addOption(jsonOption())
    .action(
      async (
        run: number,
        opts: { url?: string; apiKey?: string; limit: number; page: number; json?: boolean; change?: 'insert' | 'update' | 'delete' },
      ) => {
        jsonMode = opts.json === true;
        await (await commands.changes()).changesCommand(config(), run, opts);
      },
    );

  program
    .command('history')
    .description('every run that inserted, changed or deleted a customer, newest first')
    .argument('<customer_id>', 'the customer_id')
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .option('-n, --limit <n>', 'how many', integer('--limit', 1, 1000), 20)
    .option('-p, --page <n>', 'page of that many', integer('--page', 1, 1_000_000_000), 1)
    .addOption(jsonOption())
    .action(async (customerId: string, opts: { url?: string; apiKey?: string; limit: number; page: number; json?: boolean }) => {
      jsonMode = opts.json === true;
      await (await commands.changes()).historyCommand(config(), customerId, opts);
    });

  program
    .command('revert')
    .description('undo a run: every customer it changed back as it was, as a run of its own')
    .argument('<run>', 'run id', integer('<run>', 1, 2 ** 31 - 1))
    .addOption(urlOption())
    .addOption(apiKeyOption())
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 reverted, 1 failed (or no such run), 2 usage or settings, 3 refused: a later run changed the same\n' +
        'customers (revert it first), a failed or dry run, already reverted, past retention, or another ingest runs.',
    )
    .action(async (run: number, opts: { url?: string; apiKey?: string; json?: boolean }) => {
      jsonMode = opts.json === true;
      await (await commands.changes()).revertCommand(config(), run, opts);
    });

  program
    .command('generate')
    .description('write a synthetic dataset file (a JSON array) for the mock: MOCK_DATA_FILE=<file>')
    .argument('<n>', 'number of records', integer('<n>', 1, 50_000_000))
    .option('-o, --out <file>', 'file to write (default: customers-<n>.json)')
    .option('--seed <n>', 'seed: the same seed writes the same records', integer('--seed', 0, 2 ** 31 - 1), 42)
    .option(
      '--invalid <k>',
      'make k of the records break the schema (served with MOCK_DATA_STRICT=false)',
      integer('--invalid', 0, 50_000_000),
      0,
    )
    .addOption(jsonOption())
    .action(async (n: number, opts: { out?: string; seed: number; invalid: number; json?: boolean }) => {
      jsonMode = opts.json === true;
      await (await commands.generate()).generateCommand(n, opts);
    });

  program
    .command('migrate')
    .description('apply the SQL migrations that are not applied yet (the pipeline also does at start)')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => {
      jsonMode = opts.json === true;
      await (await commands.records()).migrateCommand(config(), opts);
    });

  return program;
}

/** Runs the CLI; resolves with the exit code, or never for the services. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  let serving = false;
  program.hook('preAction', (_root, action) => {
    serving = ['start', 'mock', 'pipeline'].includes(action.name());
  });
  try {
    await program.parseAsync(argv);
    return serving ? -1 : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const cli = err instanceof CliError ? err : new CliError((err as Error).message ?? String(err), EXIT.failed);
    if (jsonMode && cli.json !== 'printed') printJson(cli.json ?? { status: 'error', error: cli.message });
    process.stderr.write(`customer-pipeline: ${cli.message}\n`);
    return cli.exitCode;
  }
}

const code = await runCli(process.argv);
// The services keep running until a signal; the commands are done.
if (code >= 0) process.exit(code);
