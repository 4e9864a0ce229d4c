import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time from /proc (Linux): per process user+system seconds from /proc/<pid>/stat
 * (the same counters `process.cpuUsage()` reads, at clock-tick resolution), and the
 * whole machine's busy time from /proc/stat. Elsewhere every figure is `null`.
 */

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // getconf missing: 100 is the Linux default
}

/** user+system CPU seconds of `pid`, or undefined when it is gone. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces; fields after its closing ')' are fixed
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/** Pids of every process whose command name (`/proc/<pid>/comm`) is one of `names`. */
function pidsNamed(names: readonly string[]): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) pids.push(Number(entry));
    } catch {
      // exited while listing
    }
  }
  return pids;
}

/** Busy and total CPU seconds of the whole machine, summed over all cores. */
function machineCpuSeconds(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, ...values] = line.trim().split(/\s+/);
    const ticks = values.map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle + iowait
    return { busy: (total - idle) / ticksPerSecond, total: total / ticksPerSecond };
  } catch {
    return undefined;
  }
}

/** One reading of every counter, taken at the start and at the end of a window. */
export interface CpuSnapshot {
  readonly atMs: number;
  readonly groups: Record<string, Map<number, number>>;
  readonly machine: { busy: number; total: number } | undefined;
}

/**
 * CPU use over a window, each figure in % of one core (200 = both cores of a 2-core
 * machine): one entry per group, `machine` (all busy time) and `others` (machine minus
 * the groups: processes outside the bench, i.e. the disturbance).
 */
export type CpuReport = Record<string, number | null>;

/** The servers whose processes a snapshot can count, by command name (`/proc/<pid>/comm`). */
const SERVER_COMMANDS = {
  postgres: ['postgres'],
  redis: ['redis-server'],
  nats: ['nats-server'],
  rabbitmq: ['beam.smp'],
} as const satisfies Record<string, readonly string[]>;

export type ServerName = keyof typeof SERVER_COMMANDS;

/**
 * Reads CPU counters of named groups: `children` are the bench's own processes by
 * pid (several per group when, e.g., the load comes from several producer processes); each of
 * `servers` is every process of that server (the whole server, so load from anything else
 * using it on the machine is included).
 */
export function takeCpuSnapshot(children: Record<string, readonly (number | undefined)[]>, servers: readonly ServerName[] = ['postgres', 'redis']): CpuSnapshot {
  const groups: Record<string, Map<number, number>> = {};
  for (const [name, pids] of Object.entries(children)) {
    const map = new Map<number, number>();
    for (const pid of pids) {
      const seconds = pid === undefined ? undefined : processCpuSeconds(pid);
      if (pid !== undefined && seconds !== undefined) map.set(pid, seconds);
    }
    groups[name] = map;
  }
  for (const name of servers) {
    const comms = SERVER_COMMANDS[name];
    const map = new Map<number, number>();
    for (const pid of pidsNamed(comms)) {
      const seconds = processCpuSeconds(pid);
      if (seconds !== undefined) map.set(pid, seconds);
    }
    groups[name] = map;
  }
  return { atMs: performance.now(), groups, machine: machineCpuSeconds() };
}

/**
 * CPU between two snapshots in % of one core. A process present only at the end
 * counts from zero (it started inside the window); one that exited is left out.
 */
export function cpuBetween(start: CpuSnapshot, end: CpuSnapshot): CpuReport {
  const seconds = (end.atMs - start.atMs) / 1000;
  const report: CpuReport = {};
  for (const [name, endMap] of Object.entries(end.groups)) {
    const startMap = start.groups[name] ?? new Map<number, number>();
    if (endMap.size === 0) {
      report[name] = null;
      continue;
    }
    let used = 0;
    for (const [pid, s] of endMap) used += s - (startMap.get(pid) ?? 0);
    report[name] = pct(used, seconds);
  }
  report.machine = start.machine && end.machine ? pct(end.machine.busy - start.machine.busy, seconds) : null;
  // what the rest of the machine used: a large figure means the run was disturbed
  if (report.machine !== null) {
    const ours = Object.entries(report).reduce((sum, [name, v]) => (name === 'machine' || v === null ? sum : sum + v), 0);
    report.others = Math.max(0, Math.round((report.machine - ours) * 10) / 10);
  }
  return report;
}

function pct(cpuSeconds: number, wallSeconds: number): number {
  return Math.round((cpuSeconds / wallSeconds) * 1000) / 10;
}

/**
 * Waits until the whole machine used less than `maxPct` % of one core over a 2 s sample,
 * for at most `timeoutMs`; resolves with the seconds waited. For runs on a shared machine:
 * it keeps a run from starting while something else is busy (it cannot stop that from
 * starting later; `others` in the CPU report shows it).
 */
export async function waitForIdleMachine(maxPct: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const before = machineCpuSeconds();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = machineCpuSeconds();
    if (!before || !after) return 0;
    const busyPct = ((after.busy - before.busy) / 2) * 100;
    const waited = (performance.now() - started) / 1000;
    if (busyPct < maxPct || waited * 1000 >= timeoutMs) return Math.round(waited);
  }
}
