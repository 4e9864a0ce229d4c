import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { answers } from './ports.js';
import { waitFor } from './servers.js';

/** How to run a server process that a test owns. */
export interface OwnedProcessOptions {
  /** Shown in errors, e.g. `redis-server`. */
  readonly name: string;
  readonly command: string;
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The port on 127.0.0.1 the server listens on; {@link OwnedProcess.start} waits until it answers. */
  readonly port: number;
  /** Longest wait for the port to answer; default 10 s. */
  readonly startTimeoutMs?: number;
  /** A temporary folder of the server's (data, config, logs), removed by {@link OwnedProcess.remove}. */
  readonly dir?: string;
}

/**
 * A server process a test starts on a port of its own (never one of the machine's shared
 * servers), so it can stop and restart it: `start` spawns it and resolves once its port answers,
 * `stop` sends SIGTERM (a clean shutdown) and resolves once it exited, `restart` does both, and
 * `remove` stops it and deletes its folder.
 */
export class OwnedProcess {
  readonly #options: OwnedProcessOptions;
  #child: ChildProcess | undefined;
  /** The end of the process's stderr, for the error when it exits during start. */
  #stderr = '';

  constructor(options: OwnedProcessOptions) {
    this.#options = options;
  }

  get port(): number {
    return this.#options.port;
  }

  /**
   * Spawns the process and resolves once its port answers. Rejects, with the end of its stderr,
   * when it exits first or does not answer within `startTimeoutMs` (then it is killed).
   */
  async start(): Promise<void> {
    const { name, command, args = [], env, port, startTimeoutMs = 10_000 } = this.#options;
    const child = spawn(command, [...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    this.#stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-2_000)));
    let failure: Error | undefined;
    child.once('error', (error) => (failure = error));
    child.once('exit', (code, signal) => (failure ??= new Error(`${name} on port ${port} exited with ${code ?? signal}: ${this.#stderr}`)));
    try {
      await waitFor(`${name} on port ${port}`, async () => {
        if (failure) throw failure;
        return answers(port);
      }, startTimeoutMs);
    } catch (error) {
      await this.#kill('SIGKILL');
      throw error;
    }
  }

  /** SIGTERM, and resolves once the process exited; does nothing when it is not running. */
  async stop(): Promise<void> {
    await this.#kill('SIGTERM');
  }

  /** {@link stop}, then {@link start} again with the same command, port and folder. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** {@link stop}s the process and deletes its folder. */
  async remove(): Promise<void> {
    await this.stop();
    if (this.#options.dir !== undefined) await rm(this.#options.dir, { recursive: true, force: true });
  }

  async #kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    // Never spawned (no such command), or exited already.
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }
}
