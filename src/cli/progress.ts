import { Option } from 'commander';
import type { CliIo, TextSink } from './output.js';

/**
 * Progress of a long command (a replay, migrations, the audit, a bench run), always on
 * stderr so stdout keeps only the result (with `--json`, exactly one JSON document).
 *
 * On a terminal it is one line rewritten in place (`\r`, clear, text):
 * `replaying dead letters  340/1,200  28%  ~12 s left`. Anywhere else (a pipe, a log file,
 * CI) it is a plain line at most every {@link ProgressOptions.intervalMs} and a closing
 * line, `replayed 1,200/1,200 dead letters in 41 s`, so logs stay readable.
 */

/** A stream progress can be drawn on: `process.stderr` fits, and so does a test's collector. */
export interface ProgressSink extends TextSink {
  /** Terminal width; lines are cut to fit so `\r` rewrites one line, never a wrapped one. */
  readonly columns?: number;
}

/** What a {@link ProgressReporter} says and how often. */
export interface ProgressOptions {
  /** The running line's subject: `replaying dead letters`. */
  readonly label: string;
  /** The closing line's verb: `replayed` → `replayed 30/30 dead letters in 1.2 s`. */
  readonly finished: string;
  /** What is counted, for the closing line: `dead letters`. Default: nothing. */
  readonly noun?: string;
  /** Appended to each count: ` s` → `12/30 s`. Default: nothing. */
  readonly unit?: string;
  /** Say nothing at all (`--quiet`). Default false. */
  readonly quiet?: boolean;
  /** Runs of fewer items stay silent, the closing line included. Default 0: always report. */
  readonly minTotal?: number;
  /** Not a terminal: at most one line per this many ms, besides the closing one. Default {@link DEFAULT_PROGRESS_INTERVAL_MS}. */
  readonly intervalMs?: number;
  /** On a terminal: redraw at most once per this many ms. Default 100. */
  readonly redrawMs?: number;
  /** Draw on one rewritten line; default: the sink is a TTY and `TERM` is not `dumb`. */
  readonly tty?: boolean;
  /** The clock, in ms; tests pass a fake one. Default `Date.now`. */
  readonly now?: () => number;
}

/** How often progress is printed when stderr is not a terminal: every 2 s. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 2_000;

/** Replays of fewer items than this print no progress: their result lines say it all. */
export const PROGRESS_FROM_ITEMS = 10;

const CLEAR_LINE = '\r\u001b[2K';
const NUMBER = new Intl.NumberFormat('en-US');

/** `1,200`. */
export function formatCount(n: number): string {
  return NUMBER.format(n);
}

/** Whole percent of `done` in `total`, 0‥100; `undefined` when the total is unknown (0). */
export function percentOf(done: number, total: number): number | undefined {
  if (!(total > 0)) return undefined;
  return Math.min(100, Math.max(0, Math.floor((done / total) * 100)));
}

/**
 * Seconds left at the average rate so far: `done − doneBefore` items in `elapsedMs`, `total − done`
 * to go. `undefined` until there is a rate to go by (no item yet, or less than a second
 * measured) and when nothing is left.
 */
export function secondsLeft(done: number, total: number, elapsedMs: number, doneBefore = 0): number | undefined {
  const progressed = done - doneBefore;
  if (progressed <= 0 || done >= total || elapsedMs < 1_000) return undefined;
  return ((total - done) * elapsedMs) / progressed / 1_000;
}

/** `0.4 s`, `12 s`, `3 min 5 s`, `2 h 10 min` (whole seconds from 10 s on). */
export function formatSeconds(seconds: number): string {
  const tenths = Math.round(seconds * 10) / 10;
  if (tenths < 10) return `${tenths.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3_600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`;
}

/** Reports `done/total` of one task on a stream; see the module comment for the two forms. */
export class ProgressReporter {
  readonly #sink: ProgressSink;
  readonly #options: ProgressOptions;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #startedAt: number;
  /** The first update, which the time-left estimate measures the rate from (setup before it does not count). */
  #first: { readonly done: number; readonly at: number } | undefined;
  #done = 0;
  #total = 0;
  #detail = '';
  /** When the last line was written (terminal: drawn), ms. */
  #lastAt: number;
  /** A terminal line is on screen and has no newline yet. */
  #drawn = false;
  #shown = false;
  #closed = false;

  constructor(sink: ProgressSink, options: ProgressOptions) {
    this.#sink = sink;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#tty = options.tty ?? sink.isTTY === true;
    this.#startedAt = this.#now();
    this.#lastAt = this.#startedAt;
  }

  /** Records `done` of `total` (and a short `detail`, e.g. `sent 6,000`); prints when it is time to. */
  update(done: number, total: number, detail = ''): void {
    [this.#done, this.#total, this.#detail] = [done, total, detail];
    const now = this.#now();
    this.#first ??= { done, at: now };
    if (!this.#active()) return;
    if (this.#tty) {
      if (this.#drawn && now - this.#lastAt < (this.#options.redrawMs ?? 100)) return;
      this.#draw(now);
    } else if (now - this.#lastAt >= (this.#options.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS)) {
      this.#lastAt = now;
      this.#shown = true;
      this.#sink.write(`${this.#runningLine(now)}\n`);
    }
  }

  /** A line of its own (`catalog: applied 0001_outbox in 12 ms`), kept above the running line on a terminal. */
  log(line: string): void {
    if (this.#options.quiet === true || this.#closed) return;
    if (this.#drawn) {
      this.#sink.write(`${CLEAR_LINE}${line}\n`);
      this.#draw(this.#now());
    } else {
      this.#sink.write(`${line}\n`);
    }
  }

  /**
   * The closing line, `replayed 28/30 dead letters in 1.2 s, 2 skipped`: `done` (default: the
   * last update's) of the total, and a `detail`. Nothing more is printed after it.
   */
  finish(closing: { readonly done?: number; readonly detail?: string } = {}): void {
    if (this.#closed) return;
    const { done, detail } = closing;
    if (done !== undefined) this.#done = done;
    if (this.#active() || this.#shown) {
      const seconds = formatSeconds((this.#now() - this.#startedAt) / 1_000);
      const noun = this.#options.noun ? ` ${this.#options.noun}` : '';
      const line = `${this.#options.finished} ${this.#count()}${noun} in ${seconds}${detail ? `, ${detail}` : ''}`;
      this.#sink.write(`${this.#drawn ? CLEAR_LINE : ''}${line}\n`);
    }
    this.#drawn = false;
    this.#closed = true;
  }

  /**
   * `io` whose writes first take the running line off the terminal, so a result line on
   * stdout (when stdout is that terminal too) or a note on stderr never lands after it; the
   * next {@link update} draws it again. Build the command's `Output` on it.
   */
  share<T extends Pick<CliIo, 'stdout' | 'stderr'>>(io: T): T {
    const erasing = (sink: TextSink, sameScreen: boolean): TextSink => ({
      isTTY: sink.isTTY,
      write: (text: string) => {
        if (sameScreen) this.#erase();
        return sink.write(text);
      },
    });
    return { ...io, stdout: erasing(io.stdout, io.stdout.isTTY === true), stderr: erasing(io.stderr, true) };
  }

  /** Ends without a closing line (the task failed or was interrupted): clears a terminal line so the next message starts clean. Idempotent. */
  close(): void {
    this.#erase();
    this.#closed = true;
  }

  #erase(): void {
    if (this.#drawn) this.#sink.write(CLEAR_LINE);
    this.#drawn = false;
  }

  #active(): boolean {
    return !this.#closed && this.#options.quiet !== true && this.#total >= (this.#options.minTotal ?? 0);
  }

  #draw(now: number): void {
    const line = this.#runningLine(now);
    const width = this.#sink.columns;
    this.#sink.write(`${CLEAR_LINE}${width !== undefined && width > 1 && line.length >= width ? line.slice(0, width - 1) : line}`);
    this.#lastAt = now;
    this.#drawn = true;
    this.#shown = true;
  }

  #count(): string {
    const unit = this.#options.unit ?? '';
    return this.#total > 0 ? `${formatCount(this.#done)}/${formatCount(this.#total)}${unit}` : `${formatCount(this.#done)}${unit}`;
  }

  #runningLine(now: number): string {
    const parts = [this.#options.label, this.#count()];
    const percent = percentOf(this.#done, this.#total);
    if (percent !== undefined) parts.push(`${percent}%`);
    const left = this.#first && secondsLeft(this.#done, this.#total, now - this.#first.at, this.#first.done);
    if (left !== undefined) parts.push(`~${formatSeconds(left)} left`);
    if (this.#detail) parts.push(this.#detail);
    return parts.join('  ');
  }
}

/**
 * A reporter on the command's stderr. A terminal is `stderr.isTTY` with `TERM` other than
 * `dumb`; `quiet` (the `--quiet` option) silences it.
 */
export function startProgress(io: Pick<CliIo, 'stderr' | 'env'>, options: ProgressOptions): ProgressReporter {
  const tty = options.tty ?? (io.stderr.isTTY === true && io.env.TERM !== 'dumb');
  return new ProgressReporter(io.stderr, { ...options, tty });
}

/** `-q, --quiet`: no progress lines on stderr (warnings and errors still). */
export function quietOption(): Option {
  return new Option('-q, --quiet', 'no progress on stderr (warnings and errors are still printed)');
}
