// Where a workspace archive's entries live, on its own so that the archive worker (which must
// start fast) does not load the whole API schema for two names.

/** The folder every archive entry starts with, and where it lands in the sandbox. */
export const ARCHIVE_ROOT = "workspace";
export const SANDBOX_WORKSPACE = "/workspace";
