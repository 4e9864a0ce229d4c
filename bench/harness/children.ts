import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLOCK_ANCHOR_ENV, clockAnchor, withTimeout } from './clock.js';
import type { ChildMessage, ParentMessage } from './messages.js';

/** The repository root: children run from there so `--import tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every child still alive, so that an exit or Ctrl-C of the parent kills each one by its pid. */
const live = new Set<ChildProcess>();

/** Kills every child process this bench started and that is still running. */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

type MessageOf<T extends ChildMessage['type']> = Extract<ChildMessage, { type: T }>;

/**
 * One bench child process (`node --import tsx bench/processes/<role>.ts`) with an
 * IPC channel. Its stdout goes to the parent's stderr, so the parent's stdout stays
 * pure JSON. A child that reports an error or exits early rejects every pending
 * {@link waitFor}.
 */
export class BenchChild {
  readonly role: string;
  readonly #child: ChildProcess;
  readonly #listeners = new Map<string, Set<(message: ChildMessage) => void>>();
  readonly #failureListeners = new Set<(error: Error) => void>();
  #failure: Error | undefined;
  #stopping = false;
  readonly exited: Promise<void>;

  constructor(role: 'producer' | 'relay' | 'consumer') {
    this.role = role;
    this.#child = spawn(process.execPath, ['--import', 'tsx', `bench/processes/${role}.ts`], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 2, 2, 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, [CLOCK_ANCHOR_ENV]: clockAnchor() },
    });
    live.add(this.#child);
    this.#child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message.type === 'error') this.#fail(new Error(`${role}: ${message.message}`));
      for (const listener of this.#listeners.get(message.type) ?? []) listener(message);
    });
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        live.delete(this.#child);
        if (!this.#stopping) this.#fail(new Error(`${role} process exited unexpectedly (${signal ?? `code ${code}`})`));
        resolve();
      });
    });
    this.#child.once('error', (error) => this.#fail(error));
  }

  /** The child's pid (the node process itself, so its CPU counters are the child's). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The error that ended this child, if one did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  send(message: ParentMessage): void {
    if (this.#child.connected) this.#child.send(message);
  }

  /** Calls `listener` on every message of `type`. */
  on<T extends ChildMessage['type']>(type: T, listener: (message: MessageOf<T>) => void): void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as (message: ChildMessage) => void);
  }

  /** Calls `listener` once if the child fails (error message or early exit). */
  onFailure(listener: (error: Error) => void): void {
    if (this.#failure) listener(this.#failure);
    else this.#failureListeners.add(listener);
  }

  /** The next message of `type`; rejects on timeout or if the child fails first. */
  waitFor<T extends ChildMessage['type']>(type: T, timeoutMs: number): Promise<MessageOf<T>> {
    const pending = new Promise<MessageOf<T>>((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      const set = this.#listeners.get(type) ?? new Set();
      this.#listeners.set(type, set);
      const listener = (message: ChildMessage): void => {
        set.delete(listener);
        resolve(message as MessageOf<T>);
      };
      set.add(listener);
      this.onFailure(reject);
    });
    return withTimeout(pending, timeoutMs, `${this.role} (waiting for ${type})`);
  }

  /** Asks the child to close and exit; kills it (SIGKILL, by pid) if it has not within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.#stopping = true;
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.send({ type: 'stop' });
    try {
      await withTimeout(this.exited, timeoutMs, `${this.role} shutdown`);
    } catch {
      this.#child.kill('SIGKILL');
      await this.exited;
    }
  }

  #fail(error: Error): void {
    if (this.#failure || this.#stopping) return;
    this.#failure = error;
    for (const listener of this.#failureListeners) listener(error);
    this.#failureListeners.clear();
  }
}
