/**
 * @module What one measured run of the peers section yields, whichever load generator
 * drove it (wrk or the bench's own): the figures every contender is compared on.
 */

/** Requests that failed below HTTP, as wrk counts them. */
export interface SocketErrors {
  readonly connect: number;
  readonly read: number;
  readonly write: number;
  readonly timeout: number;
}

export interface LoadFigures {
  /** Responses completed in the measured run. */
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly socketErrors: SocketErrors;
  /** Answers with a status of 400 or above (wrk: "Non-2xx or 3xx responses"). */
  readonly badStatus: number;
}

export const socketErrorTotal = (errors: SocketErrors): number => errors.connect + errors.read + errors.write + errors.timeout;
