import { describe, expect, it } from 'vitest';
import { ProgressReporter, formatSeconds, percentOf, secondsLeft, startProgress, type ProgressOptions } from '../../src/cli/progress.js';

/** A stderr stand-in that keeps every write, and a clock the test moves. */
function fakeStderr(options: { isTTY?: boolean; columns?: number } = {}) {
  const writes: string[] = [];
  let now = 1_000_000;
  return {
    sink: { write: (text: string) => writes.push(text), ...options },
    writes,
    text: () => writes.join(''),
    clock: () => now,
    advance: (ms: number) => (now += ms),
  };
}

const LABELS = { label: 'replaying dead letters', finished: 'replayed', noun: 'dead letters' } satisfies Partial<ProgressOptions>;

/** What a terminal would show after these writes: each `\r` + clear starts the line over. */
function screen(text: string): string[] {
  return text.split('\n').map((line) => line.split('\r\u001b[2K').at(-1)!);
}

describe('progress reporter', () => {
  it('on a terminal rewrites one line in place, and ends it with the closing line', () => {
    const err = fakeStderr({ isTTY: true });
    const progress = new ProgressReporter(err.sink, { ...LABELS, now: err.clock });
    for (let done = 0; done <= 1_200; done += 20) {
      progress.update(done, 1_200);
      err.advance(200);
    }
    progress.finish();
    expect(err.text().split('\n')).toHaveLength(2); // one newline: the closing line's
    expect(err.writes.every((write) => write.startsWith('\r\u001b[2K'))).toBe(true);
    expect(err.writes).toContain('\r\u001b[2Kreplaying dead letters  340/1,200  28%  ~8.6 s left');
    expect(screen(err.text())).toEqual(['replayed 1,200/1,200 dead letters in 12 s', '']);
  });

  it('on a terminal redraws at most every redrawMs, and keeps logged lines above the running line', () => {
    const err = fakeStderr({ isTTY: true });
    const progress = new ProgressReporter(err.sink, { ...LABELS, now: err.clock });
    progress.update(1, 10);
    progress.update(2, 10);
    progress.update(3, 10);
    expect(err.writes).toEqual(['\r\u001b[2Kreplaying dead letters  1/10  10%']);
    err.advance(100);
    progress.update(4, 10);
    expect(err.writes).toHaveLength(2);
    progress.log('catalog: applied datasync_0001_outbox in 12 ms');
    progress.finish({ done: 2, detail: '2 skipped' });
    expect(screen(err.text())).toEqual(['catalog: applied datasync_0001_outbox in 12 ms', 'replayed 2/10 dead letters in 0.1 s, 2 skipped', '']);
  });

  it('cuts the running line to the terminal width so it never wraps', () => {
    const err = fakeStderr({ isTTY: true, columns: 20 });
    new ProgressReporter(err.sink, { ...LABELS, now: err.clock }).update(5, 10);
    expect(err.writes).toEqual(['\r\u001b[2Kreplaying dead lett']);
  });

  it('close() clears an unfinished terminal line and prints nothing more', () => {
    const err = fakeStderr({ isTTY: true });
    const progress = new ProgressReporter(err.sink, { ...LABELS, now: err.clock });
    progress.update(3, 10);
    progress.close();
    progress.finish();
    progress.update(4, 10);
    expect(err.writes).toEqual(['\r\u001b[2Kreplaying dead letters  3/10  30%', '\r\u001b[2K']);
  });

  it('not on a terminal prints a plain line at most every intervalMs, and a closing line', () => {
    const err = fakeStderr();
    const progress = new ProgressReporter(err.sink, { ...LABELS, now: err.clock });
    for (let done = 1; done <= 100; done++) {
      err.advance(100); // 10 s in all
      progress.update(done, 100);
    }
    progress.finish();
    expect(err.text()).not.toContain('\r');
    expect(err.text().split('\n')).toEqual([
      'replaying dead letters  20/100  20%  ~8.0 s left',
      'replaying dead letters  40/100  40%  ~6.0 s left',
      'replaying dead letters  60/100  60%  ~4.0 s left',
      'replaying dead letters  80/100  80%  ~2.0 s left',
      'replaying dead letters  100/100  100%',
      'replayed 100/100 dead letters in 10 s',
      '',
    ]);
  });

  it('not on a terminal, a short run prints only the closing line; intervalMs is configurable', () => {
    const short = fakeStderr();
    const progress = new ProgressReporter(short.sink, { ...LABELS, now: short.clock });
    for (let done = 1; done <= 30; done++) progress.update(done, 30);
    progress.finish();
    expect(short.text()).toBe('replayed 30/30 dead letters in 0.0 s\n');

    const slow = fakeStderr();
    const every5s = new ProgressReporter(slow.sink, { ...LABELS, intervalMs: 5_000, now: slow.clock });
    for (let done = 1; done <= 10; done++) {
      slow.advance(1_000);
      every5s.update(done, 10);
    }
    expect(slow.text()).toBe('replaying dead letters  5/10  50%  ~5.0 s left\nreplaying dead letters  10/10  100%\n');
  });

  it('says nothing when quiet, or when the run is shorter than minTotal', () => {
    for (const options of [{ quiet: true }, { minTotal: 10 }]) {
      for (const isTTY of [true, false]) {
        const err = fakeStderr({ isTTY });
        const progress = new ProgressReporter(err.sink, { ...LABELS, ...options, now: err.clock });
        err.advance(5_000);
        progress.update(3, options.quiet ? 100 : 9);
        if (options.quiet) progress.log('a line');
        progress.finish();
        expect(err.writes, JSON.stringify({ options, isTTY })).toEqual([]);
      }
    }
  });

  it('time left counts from the first update, not from a setup before it; a unit and a detail; an unknown total shows the count alone', () => {
    const err = fakeStderr({ isTTY: true });
    const progress = new ProgressReporter(err.sink, { label: 'baseline fixed 5000/s window', finished: 'measured', unit: ' s', now: err.clock });
    err.advance(9_000); // setting up
    progress.update(0, 20, 'setting up');
    err.advance(4_000);
    progress.update(4, 20, 'sent 20,000  applied 19,950');
    expect(err.writes.at(-1)).toBe('\r\u001b[2Kbaseline fixed 5000/s window  4/20 s  20%  ~16 s left  sent 20,000  applied 19,950');
    err.advance(200);
    progress.update(7, 0);
    expect(err.writes.at(-1)).toBe('\r\u001b[2Kbaseline fixed 5000/s window  7 s');
  });

  it('share(io): a result line on the same terminal, or a note on stderr, first takes the running line off', () => {
    const err = fakeStderr({ isTTY: true });
    const screenOut: string[] = [];
    const piped: string[] = [];
    const progress = new ProgressReporter(err.sink, { ...LABELS, now: err.clock });
    const io = progress.share({ stdout: { write: (text: string) => screenOut.push(text), isTTY: true }, stderr: err.sink });
    progress.update(1, 10);
    io.stdout.write('replayed 1  orders\n');
    progress.update(2, 10); // drawn again at once, whatever redrawMs says
    io.stderr.write('datasync: dead letter 3 skipped\n');
    expect(err.writes).toEqual([
      '\r\u001b[2Kreplaying dead letters  1/10  10%', '\r\u001b[2K',
      '\r\u001b[2Kreplaying dead letters  2/10  20%', '\r\u001b[2K', 'datasync: dead letter 3 skipped\n',
    ]);
    expect(screenOut).toEqual(['replayed 1  orders\n']);
    expect(io.stdout.isTTY).toBe(true);

    // stdout piped elsewhere: its lines leave the terminal line alone
    const other = new ProgressReporter(err.sink, { ...LABELS, now: err.clock });
    const pipedIo = other.share({ stdout: { write: (text: string) => piped.push(text) }, stderr: err.sink });
    other.update(1, 10);
    const before = err.writes.length;
    pipedIo.stdout.write('{"replayed": []}\n');
    expect(err.writes.length).toBe(before);
    expect(piped).toEqual(['{"replayed": []}\n']);
  });

  it('startProgress draws on a terminal only when stderr is a TTY and TERM is not dumb', () => {
    const drawn = (isTTY: boolean, env: Record<string, string>): boolean => {
      const err = fakeStderr({ isTTY });
      startProgress({ stderr: err.sink, env }, LABELS).update(1, 2);
      return err.writes.length === 1 && err.writes[0]!.startsWith('\r');
    };
    expect(drawn(true, {})).toBe(true);
    expect(drawn(true, { TERM: 'dumb' })).toBe(false);
    expect(drawn(false, {})).toBe(false);
  });

  it('percent and time-left maths', () => {
    expect(percentOf(340, 1_200)).toBe(28);
    expect(percentOf(1_199, 1_200)).toBe(99);
    expect(percentOf(1_200, 1_200)).toBe(100);
    expect(percentOf(5, 0)).toBeUndefined();
    expect(percentOf(12, 10)).toBe(100);
    // 340 in 3.4 s → 100/s → 860 left in 8.6 s
    expect(secondsLeft(340, 1_200, 3_400)).toBeCloseTo(8.6);
    expect(secondsLeft(0, 1_200, 3_400)).toBeUndefined();
    expect(secondsLeft(10, 1_200, 999)).toBeUndefined();
    expect(secondsLeft(1_200, 1_200, 5_000)).toBeUndefined();
    // measured from an update at 300: 40 more in 4 s → 10/s → 860 left in 86 s
    expect(secondsLeft(340, 1_200, 4_000, 300)).toBeCloseTo(86);
    expect(secondsLeft(300, 1_200, 4_000, 300)).toBeUndefined();
    expect([0.04, 9.96, 12.4, 59.6, 185, 7_800].map(formatSeconds)).toEqual(['0.0 s', '10 s', '12 s', '1 min 0 s', '3 min 5 s', '2 h 10 min']);
  });
});
