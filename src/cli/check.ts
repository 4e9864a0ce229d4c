import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { checkContracts, extendLock, type CheckedTopic, type SchemaLock, type ServiceDeclaration } from '../core/contract-check.js';
import { ArgumentError } from '../core/errors.js';
import { CommandFailure } from './failure.js';
import { loadProjectModule } from './load-module.js';
import { addJsonOption } from './options.js';
import { Output, type CliIo } from './output.js';

interface CheckOptions {
  contracts: string;
  lock?: string;
  updateLock?: boolean;
  json?: boolean;
}

/** The default module: the reference platform's contracts. */
export const DEFAULT_CONTRACTS_MODULE = 'platform/contracts/index.ts';

/**
 * Adds `datasync check`: loads a contracts module (its `contracts` or `platformContracts`
 * export: a ContractRegistry or a list of topics; its `services` or `platformServices`
 * export: what each service publishes and subscribes to) and checks it with
 * `checkContracts`, against the published-schema lock next to it.
 */
export function addCheckCommand(program: Command, io: CliIo): void {
  const command = program
    .command('check')
    .description('check topic contracts against the services: every subscription has a producer, every topic is declared and versioned, no published schema changed')
    .option('--contracts <module>', 'module exporting the contracts and the services', DEFAULT_CONTRACTS_MODULE)
    .option('--lock <file>', 'published schemas, one per topic version (default: schemas.lock.json next to the module)')
    .option('--update-lock', 'record topic versions not yet in the lock (never changes a recorded one)');
  addJsonOption(command);
  command.addHelpText('after', `
Exit codes: 0 no problems, 1 problems found (each printed with what to do), 2 bad arguments.

Examples:
  datasync check
  datasync check --contracts platform/contracts/index.ts --update-lock`);
  command.action(async (options: CheckOptions) => {
    const output = new Output(io, options);
    const modulePath = path.resolve(options.contracts);
    const { topics, services } = await loadContracts(options.contracts);
    const lockPath = path.resolve(options.lock ?? path.join(path.dirname(modulePath), 'schemas.lock.json'));
    const lock = readLock(lockPath, options.lock ?? path.relative(process.cwd(), lockPath));
    const problems = checkContracts({ topics, services, lock });
    let recorded: string[] = [];
    if (options.updateLock && problems.length === 0) {
      const next = extendLock(lock, topics);
      recorded = Object.keys(next).filter((key) => !(key in lock));
      if (recorded.length > 0) writeFileSync(lockPath, `${JSON.stringify(next, null, 2)}\n`);
    }
    if (output.json) {
      output.document({ ok: problems.length === 0, topics: topics.length, services: services.length, problems, recorded });
    } else {
      for (const problem of problems) output.line(`${output.style('✗', 'red')} ${problem.code}: ${problem.message}`);
      if (problems.length === 0) output.line(`${output.style('✓', 'green')} ${topics.length} topics, ${services.length} services: every subscription has a producer, every topic is declared and versioned, no published schema changed`);
      if (recorded.length > 0) output.line(`recorded ${recorded.length} topic version${recorded.length === 1 ? '' : 's'} in ${path.relative(process.cwd(), lockPath)}: ${recorded.join(', ')}`);
    }
    if (problems.length > 0) throw new CommandFailure(`check found ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${options.contracts}`);
  });
}

async function loadContracts(shown: string): Promise<{ topics: CheckedTopic[]; services: ServiceDeclaration[] }> {
  const loaded = await loadProjectModule(shown, '--contracts', 'the path of a module exporting contracts and services');
  const registry = loaded.contracts ?? loaded.platformContracts;
  const topics = Array.isArray(registry) ? (registry as CheckedTopic[]) : (registry as { list?: () => CheckedTopic[] } | undefined)?.list?.();
  const services = (loaded.services ?? loaded.platformServices) as ServiceDeclaration[] | undefined;
  if (!topics) throw new ArgumentError('--contracts', shown, 'a module exporting `contracts` (a ContractRegistry or a list of topics)');
  if (!Array.isArray(services)) throw new ArgumentError('--contracts', shown, 'a module exporting `services`: [{ name, publishes, subscribes }]');
  return { topics, services };
}

function readLock(lockPath: string, shown: string): SchemaLock {
  if (!existsSync(lockPath)) return {};
  try {
    return JSON.parse(readFileSync(lockPath, 'utf8')) as SchemaLock;
  } catch (cause) {
    throw new ArgumentError('--lock', shown, `a JSON file of published schemas (${(cause as Error).message})`);
  }
}
