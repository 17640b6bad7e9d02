// HEYVM_TRACE=1: the steps of a start, a stop or an exec with when each began, to find where the
// time goes. Any layer marks a step (`traceStep`); only a listener does anything with it: cli/
// prints them (cli/trace-output.ts), the owner relays its own to the command that started it over
// the readiness pipe (owner/main.ts), which marks them as its own with the owner's clock.

export interface TraceEvent {
  /** When the step began, in ms on the shared clock (performance.timeOrigin + performance.now()). */
  at: number;
  step: string;
}

type TraceListener = (event: TraceEvent) => void;

let listener: TraceListener | undefined;

/** Whether this process was asked to trace (the variable is inherited by the owner it starts). */
export function tracing(): boolean {
  return process.env.HEYVM_TRACE === "1";
}

/** The clock every process's steps are put on: ms since the epoch, with sub-ms precision, monotonic within a process. */
export function traceClock(): number {
  return performance.timeOrigin + performance.now();
}

/** One listener per process (the CLI's printer, or the owner's relay); undefined stops listening. */
export function listenToTrace(next: TraceListener | undefined): void {
  listener = next;
}

/** Marks the start of a step; `at` for a step another process timed (relayed). */
export function traceStep(step: string, at: number = traceClock()): void {
  listener?.({ at, step });
}

/** A step as a line of the owner's readiness pipe, and back: `trace <at> <step>`. */
export function traceLine(event: TraceEvent): string {
  return `trace ${event.at.toFixed(3)} ${event.step.replace(/\n/g, " ")}`;
}

export function parseTraceLine(line: string): TraceEvent | undefined {
  const match = /^trace (\d+(?:\.\d+)?) (.*)$/.exec(line);
  return match ? { at: Number(match[1]), step: match[2] ?? "" } : undefined;
}
