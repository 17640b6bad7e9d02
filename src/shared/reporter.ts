// Where progress and diagnostics go while slow work runs (the owner's log, or the CLI's stderr).
export interface Reporter {
  /** A step of something slow, shown to the user as progress. */
  progress(message: string): void;
  /** A line worth keeping in the log. */
  info(message: string): void;
}
