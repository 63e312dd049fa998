/**
 * @module What a takeover request is and what it answers, shared by its two triggers on
 * the running process (the admin listener's POST /takeover and SIGUSR2) and the code
 * that carries it out (hand-over.ts).
 */

export interface TakeoverRequest {
  /** The new process's flags; null: the ones this process was started with. */
  readonly args: readonly string[] | null;
  /**
   * `inherit`: the new process gets the listening sockets themselves. `rebind`: it binds
   * new ones beside them (reusePort) and this process closes its own, the naive way, which
   * resets the connections queued on them; kept only to measure that (bench/takeover.ts).
   */
  readonly sockets: 'inherit' | 'rebind';
  /** Who asked, for the log line: `SIGUSR2`, or the admin client's address. */
  readonly from: string;
}

export type TakeoverOutcome =
  | {
      readonly ok: true;
      readonly successorPid: number;
      /** The command line the new process runs. */
      readonly command: readonly string[];
      /** Starts this process's drain and exit; called once the answer is out. */
      readonly drain: () => void;
    }
  | { readonly ok: false; readonly status: 400 | 409 | 500; readonly reason: string };

export type TakeoverHandler = (request: TakeoverRequest) => Promise<TakeoverOutcome>;

/** Messages from the new process to the one it takes over from, over their IPC channel. */
export type SuccessorMessage =
  | { readonly type: 'switchyard-serving'; readonly pid: number }
  | { readonly type: 'switchyard-failed'; readonly message: string };
