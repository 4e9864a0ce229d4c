import type { CliEnv } from './connections.js';

/** Where the CLI writes: `process.stdout`/`process.stderr` fit, and so does a test's collector. */
export interface TextSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** The process surroundings of one run: streams, environment, Ctrl-C. */
export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly env: CliEnv;
  /** Aborted on Ctrl-C: long commands stop between batches and exit 130. */
  readonly signal?: AbortSignal;
}

/** One column of a {@link Output.table}. */
export interface Column<R> {
  readonly header: string;
  readonly value: (row: R) => string;
  /** Colour of the cell, when colour is on. */
  readonly style?: (row: R) => Style | undefined;
}

/** The few styles the CLI uses. */
export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow';

const ANSI: Record<Style, [string, string]> = {
  bold: ['\u001b[1m', '\u001b[22m'], dim: ['\u001b[2m', '\u001b[22m'],
  red: ['\u001b[31m', '\u001b[39m'], green: ['\u001b[32m', '\u001b[39m'], yellow: ['\u001b[33m', '\u001b[39m'],
};

/**
 * What a command prints. Results go to stdout: text for people, or with `--json` exactly
 * one JSON document and nothing else. Progress and notes go to stderr. Colour only when
 * stdout is a terminal, `NO_COLOR` is unset and `--json` is off.
 */
export class Output {
  readonly json: boolean;
  readonly #io: CliIo;
  readonly #colour: boolean;

  constructor(io: CliIo, options: { json?: boolean }) {
    this.#io = io;
    this.json = options.json === true;
    this.#colour = !this.json && io.stdout.isTTY === true && !io.env.NO_COLOR;
  }

  /** Writes the one JSON document of a `--json` run (Dates as ISO 8601 strings). */
  document(value: unknown): void {
    this.#io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A line of the human-readable result (ignored with `--json`). */
  line(text = ''): void {
    if (!this.json) this.#io.stdout.write(`${text}\n`);
  }

  /** A progress line or a note on stderr; shown with `--json` too. */
  note(text: string): void {
    this.#io.stderr.write(`${text}\n`);
  }

  /** `text` in `style` when colour is on. */
  style(text: string, style: Style | undefined): string {
    if (!this.#colour || style === undefined) return text;
    const [open, close] = ANSI[style];
    return `${open}${text}${close}`;
  }

  /** A plain table: a header row, then one row per item, columns padded to fit. */
  table<R>(columns: readonly Column<R>[], rows: readonly R[]): void {
    const cells = rows.map((row) => columns.map((column) => column.value(row)));
    const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => row[i]!.length)));
    const render = (values: readonly string[], styles: readonly (Style | undefined)[]): string =>
      values.map((value, i) => this.style(i === values.length - 1 ? value : value.padEnd(widths[i]!), styles[i])).join('  ').trimEnd();
    this.line(render(columns.map((c) => c.header), columns.map(() => 'bold')));
    rows.forEach((row, r) => this.line(render(cells[r]!, columns.map((column) => column.style?.(row)))));
  }

  /** Aligned `label  value` lines. */
  fields(entries: readonly (readonly [string, string])[]): void {
    const width = Math.max(...entries.map(([label]) => label.length));
    for (const [label, value] of entries) this.line(`${this.style(label.padEnd(width), 'bold')}  ${value}`);
  }
}

/** `2026-11-24 10:00:03Z`, or `-` for none. */
export function formatTime(date: Date | null | undefined): string {
  if (!date) return '-';
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** `4.2 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** `text` cut to `max` characters with an ellipsis, on one line. */
export function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}
