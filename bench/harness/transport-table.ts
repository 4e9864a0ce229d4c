/**
 * The "Per transport" table of bench/RESULTS.md, made from one result JSON of
 * `npm run bench` (`npx tsx bench/table.ts <json>` prints it): one row per measured
 * system (datasync once per transport, then the baseline), and for each fixed rate the
 * p50/p95/p99 latency and the delivered rate, then the highest sustained rate.
 */

/** The parts of one measured run the table reads (a `RunResult` of bench/harness/run.ts). */
export interface TableRun {
  readonly offeredRate: number;
  readonly delivered: { readonly ratePerS: number };
  readonly latencyMs: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
  readonly lost: number | null;
  readonly sustained: boolean;
  readonly cpu?: Readonly<Record<string, number | null>>;
  readonly error?: string;
}

/** The parts of the result JSON the table reads; older files (keys `datasync`/`baseline`, no `transport`) are read too. */
export interface TableInput {
  readonly startedAt?: string;
  readonly command?: string;
  readonly machine?: Readonly<Record<string, string | number | readonly number[] | undefined>>;
  readonly config: { readonly rates: readonly number[]; readonly durationS?: number; readonly search?: boolean; readonly searchStepS?: number };
  readonly results: Readonly<
    Record<
      string,
      {
        readonly transport?: string;
        readonly fixed: readonly TableRun[];
        readonly search: { readonly steps: readonly TableRun[]; readonly sustainedRate: number | null } | null;
      }
    >
  >;
}

/** A run whose `others` CPU (processes outside the bench) is above this % of a core was disturbed (bench/RESULTS.md). */
export const DISTURBED_OTHERS_PCT = 20;

const DASH = '–';

/** 1234.5 → "1,235"; 17.44 → "17.4": the style of bench/RESULTS.md. */
export function formatMs(value: number | null): string {
  if (value === null) return DASH;
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
}

function formatRate(rate: number): string {
  return `${Math.round(rate).toLocaleString('en-US')}/s`;
}

/** One line of text safe inside a markdown table cell. */
function cellText(text: string, max = 100): string {
  const line = (text.split('\n')[0] ?? '').trim();
  const short = line.length > max ? `${line.slice(0, max - 1)}…` : line;
  return short.replace(/\|/g, '\\|');
}

function fixedCells(run: TableRun | undefined): string[] {
  if (!run) return [DASH, DASH, DASH, DASH];
  if (run.error) return [DASH, DASH, DASH, `failed: ${cellText(run.error)}`];
  const { p50, p95, p99 } = run.latencyMs;
  let delivered = run.delivered.ratePerS.toLocaleString('en-US');
  if (!run.sustained) delivered += run.lost !== null && run.lost > 0 ? ` (**not sustained**, ${run.lost} lost)` : ' (**not sustained**)';
  return [formatMs(p50), formatMs(p95), formatMs(p99), delivered];
}

function sustainedCell(search: TableInput['results'][string]['search']): string {
  if (search === null) return 'not searched';
  const failed = search.steps.find((step) => step.error);
  if (search.sustainedRate !== null) return formatRate(search.sustainedRate);
  if (failed?.error) return `failed: ${cellText(failed.error)}`;
  return `**none found** (from ${formatRate(search.steps[0]?.offeredRate ?? 0)})`;
}

/** The line above the table: when, with what command, on which machine and servers. */
function caption(input: TableInput): string {
  const m = input.machine ?? {};
  const servers = [
    m.postgres !== undefined && `PostgreSQL ${String(m.postgres)}`,
    m.redis !== undefined && `Redis ${String(m.redis)}`,
    m.nats !== undefined && `NATS ${String(m.nats)}`,
    m.rabbitmq !== undefined && `RabbitMQ ${String(m.rabbitmq)}`,
  ].filter(Boolean);
  const machine = m.cpus === undefined ? '' : ` on ${String(m.cpus)} × ${String(m.cpuModel)}, Node ${String(m.node)}${servers.length > 0 ? `, ${servers.join(', ')}` : ''}`;
  const when = input.startedAt ? `Measured ${input.startedAt.slice(0, 16).replace('T', ' ')} UTC` : 'Measured';
  const command = input.command ? ` with \`${input.command}\`` : '';
  const windows = input.config.durationS === undefined ? '' : ` Fixed rates: ${input.config.durationS} s windows.`;
  const steps = input.config.search === false || input.config.searchStepS === undefined ? '' : ` Highest sustained: search steps of ${input.config.searchStepS} s.`;
  return (
    `${when}${command}${machine}, all systems in one run.${windows}${steps} Latency: intended send → consumer commit, ms. ` +
    'Sustained: delivered ≥ 95% of offered, p95 < 50 ms, nothing lost.'
  );
}

/** The markdown table (with a caption and, when any, a note on disturbed runs) for one result JSON. */
export function transportTable(input: TableInput): string {
  const rates = input.config.rates;
  const header = ['system', 'transport'];
  for (const rate of rates) {
    const at = `at ${rate.toLocaleString('en-US')}/s`;
    header.push(`p50 ${at}`, `p95 ${at}`, `p99 ${at}`, `delivered/s ${at}`);
  }
  header.push('highest sustained');
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  const disturbed: string[] = [];
  for (const [label, own] of Object.entries(input.results)) {
    const transport = own.transport ?? 'redis-streams';
    const cells = [label, transport];
    for (const rate of rates) {
      const run = own.fixed.find((r) => r.offeredRate === rate);
      cells.push(...fixedCells(run));
      const others = run?.cpu?.others;
      if (typeof others === 'number' && others > DISTURBED_OTHERS_PCT) disturbed.push(`${label} at ${formatRate(rate)} (others ${others}% of a core)`);
    }
    cells.push(sustainedCell(own.search));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const parts = [caption(input), '', ...lines];
  if (disturbed.length > 0) parts.push('', `Disturbed windows (processes outside the bench took > ${DISTURBED_OTHERS_PCT}% of a core): ${disturbed.join('; ')}.`);
  return `${parts.join('\n')}\n`;
}
