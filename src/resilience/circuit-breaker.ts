import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleAll, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import { SyncError } from '../core/errors.js';
import { SyncMetrics, type CircuitStateName } from '../observability/sync-metrics.js';

/**
 * A named circuit breaker (cockatiel's) whose state is reported as
 * `datasync_circuit_state{circuit}`: after `failures` calls in a row fail, calls fail at once
 * with CIRCUIT_OPEN for `halfOpenAfterMs`; then one call is let through, and its success
 * closes the circuit again.
 */

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Calls failing in a row that open the circuit. Default 5. */
  readonly failures?: number;
  /** How long an open circuit refuses calls before it lets one through. Default 10 000 ms. */
  readonly halfOpenAfterMs?: number;
  /** Where its state is reported; default datasync's registry; false for none. */
  readonly metrics?: SyncMetrics | false;
}

/** A circuit around calls to one dependency. */
export interface CircuitBreaker {
  readonly name: string;
  readonly state: CircuitStateName;
  /** Runs `call` through the circuit; rejects with SyncError CIRCUIT_OPEN (retryable) while it is open. */
  execute<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** Stops reporting the state. */
  close(): void;
}

const STATE_NAMES: Readonly<Record<CircuitState, CircuitStateName>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Open]: 'open',
  [CircuitState.Isolated]: 'open',
};

/** Creates the circuit `name` (e.g. `gateway→search`). */
export function createCircuitBreaker(name: string, options: CircuitBreakerOptions = {}): CircuitBreaker {
  const policy: CircuitBreakerPolicy = circuitBreaker(handleAll, {
    halfOpenAfter: options.halfOpenAfterMs ?? 10_000,
    breaker: new ConsecutiveBreaker(options.failures ?? 5),
  });
  const metrics = options.metrics === false ? undefined : (options.metrics ?? SyncMetrics.for());
  const unwatch = metrics?.watchCircuit(name, () => STATE_NAMES[policy.state]);
  return {
    name,
    get state() {
      return STATE_NAMES[policy.state];
    },
    async execute(call) {
      try {
        return await policy.execute(({ signal }) => call(signal));
      } catch (error) {
        if (!isBrokenCircuitError(error)) throw error;
        throw new SyncError('CIRCUIT_OPEN', `${name}: the circuit is open after repeated failures; calls resume on their own once a trial call succeeds`, { cause: error });
      }
    },
    close: () => unwatch?.(),
  };
}
