// Runs a command under heyvm's seccomp filter (seccomp-policy.ts; installed by the native
// helper build/Release/heyvm-seccomp, which then execs the command). Every process a sandbox
// runs descends from such a command, and so do the host helpers that write for it.
import { UnavailableError } from "../shared/errors.js";
import { nativeBinary } from "../shared/native-binary.js";

const HELPER = "heyvm-seccomp";

export function seccompHelper(): string | undefined {
  return nativeBinary(HELPER);
}

/** argv run under the filter: the helper first. Refuses (never runs unfiltered) when it is not built. */
export function underSeccomp(argv: readonly string[]): string[] {
  const helper = seccompHelper();
  if (!helper) throw new UnavailableError(`${HELPER} is not built (it keeps sandboxes from making setuid files and devices)`, "run `npm run build` (it needs libseccomp-dev: `apt-get install libseccomp-dev`)");
  return [helper, "--", ...argv];
}
