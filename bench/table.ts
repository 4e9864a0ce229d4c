/**
 * `npx tsx bench/table.ts <result.json>`: prints the per-transport markdown table of
 * bench/RESULTS.md for a result JSON written by `npm run bench` (see
 * bench/harness/transport-table.ts for what each cell means).
 */
import { readFileSync } from 'node:fs';
import { transportTable, type TableInput } from './harness/transport-table.js';

const USAGE = `npx tsx bench/table.ts <result.json>
  prints the markdown table "Per transport" of bench/RESULTS.md for a result JSON of npm run bench`;

function main(argv: readonly string[]): number {
  if (argv.length !== 1 || argv[0] === '--help' || argv[0] === '-h') {
    const help = argv[0] === '--help' || argv[0] === '-h';
    (help ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return help ? 0 : 2;
  }
  const path = argv[0]!;
  let input: TableInput;
  try {
    input = JSON.parse(readFileSync(path, 'utf8')) as TableInput;
  } catch (error) {
    process.stderr.write(`[bench table] cannot read ${path}: ${(error as Error).message}\n`);
    return 1;
  }
  if (!input || typeof input !== 'object' || !Array.isArray(input.config?.rates) || typeof input.results !== 'object' || input.results === null) {
    process.stderr.write(`[bench table] ${path} is not a result JSON of npm run bench (no config.rates or results)\n`);
    return 1;
  }
  process.stdout.write(transportTable(input));
  return 0;
}

process.exitCode = main(process.argv.slice(2));
