// The system calls every sandbox process (and every host helper that writes for a sandbox:
// virtiofsd, the firecracker backend's sftp-server) is refused, as data. The C helper that
// installs the filter (native/seccomp/) is compiled with a header generated from this file
// (scripts/seccomp-header.mjs), so the list is written once, here.
//
// Why each: a sandbox must never leave a setuid/setgid file or a device node on the host (the
// host would run it with the owner's rights); openat2 takes its mode inside a struct a filter
// cannot read, so it answers ENOSYS and libc falls back to openat (as container runtimes do);
// io_uring's operations do not pass through seccomp at all (Docker's default profile blocks it
// too); TIOCSTI/TIOCLINUX push input into a terminal the sandbox shares with the host (`heyvm
// sh`); the kernel keyring is not namespaced (Docker's and Flatpak's profiles refuse it).

/** File mode bits (linux/stat.h). */
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
/** ioctl requests (asm-generic/ioctls.h). */
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

export type SeccompErrno = "EPERM" | "ENOSYS";

/** A refusal: the call by name (or, where libseccomp may not know it yet, its number on every architecture since 4.x's unified table). */
export interface SeccompRule {
  syscall: string;
  /** Used when libseccomp cannot resolve the name (a call newer than the library). */
  number?: number;
  /** Refuse only when (argument & mask) == value; without it, always. */
  when?: { arg: number; mask: number; value: number };
  errno: SeccompErrno;
  why: string;
}

/** A mode argument that would set the setuid or the setgid bit: two rules, one per bit. */
function modeBits(syscall: string, arg: number, number?: number): SeccompRule[] {
  return [S_ISUID, S_ISGID].map((bit) => ({ syscall, number, when: { arg, mask: bit, value: bit }, errno: "EPERM", why: "setuid/setgid bit" }));
}

function deviceNodes(syscall: string, arg: number): SeccompRule[] {
  return [S_IFCHR, S_IFBLK].map((type) => ({ syscall, when: { arg, mask: S_IFMT, value: type }, errno: "EPERM", why: "device node" }));
}

export const SECCOMP_RULES: readonly SeccompRule[] = [
  ...modeBits("chmod", 1),
  ...modeBits("fchmod", 1),
  ...modeBits("fchmodat", 2),
  ...modeBits("fchmodat2", 2, 452),
  ...modeBits("open", 2),
  ...modeBits("openat", 3),
  ...modeBits("creat", 1),
  ...modeBits("mkdir", 1),
  ...modeBits("mkdirat", 2),
  ...modeBits("mknod", 1),
  ...modeBits("mknodat", 2),
  ...deviceNodes("mknod", 1),
  ...deviceNodes("mknodat", 2),
  { syscall: "openat2", errno: "ENOSYS", why: "its mode is in a struct: libc falls back to openat" },
  { syscall: "io_uring_setup", errno: "EPERM", why: "io_uring operations bypass seccomp" },
  { syscall: "io_uring_enter", errno: "EPERM", why: "io_uring operations bypass seccomp" },
  { syscall: "io_uring_register", errno: "EPERM", why: "io_uring operations bypass seccomp" },
  { syscall: "ioctl", when: { arg: 1, mask: 0xffffffff, value: TIOCSTI }, errno: "EPERM", why: "types into the host's terminal" },
  { syscall: "ioctl", when: { arg: 1, mask: 0xffffffff, value: TIOCLINUX }, errno: "EPERM", why: "types into the host's console" },
  { syscall: "add_key", errno: "EPERM", why: "the kernel keyring is not namespaced" },
  { syscall: "keyctl", errno: "EPERM", why: "the kernel keyring is not namespaced" },
  { syscall: "request_key", errno: "EPERM", why: "the kernel keyring is not namespaced" },
];
