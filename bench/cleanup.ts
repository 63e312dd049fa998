/**
 * @module Everything the bench starts (threads, servers, child processes) registers how
 * to stop it here at once, so that an error or Ctrl-C anywhere still stops all of it, in
 * reverse order, and the process exits by itself.
 */

export class Cleanup {
  readonly #steps: Array<{ label: string; run: () => Promise<void> | void }> = [];

  /** Registers `run`; returns a function that runs it now (once) and forgets it. */
  defer(label: string, run: () => Promise<void> | void): () => Promise<void> {
    const step = { label, run };
    this.#steps.push(step);
    return async () => {
      const at = this.#steps.indexOf(step);
      if (at === -1) return;
      this.#steps.splice(at, 1);
      await run();
    };
  }

  /** Runs every registered step, last first; a failing step does not stop the others. */
  async runAll(report: (line: string) => void = () => {}): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop();
      if (!step) break;
      try {
        await step.run();
      } catch (error) {
        report(`stopping ${step.label} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
