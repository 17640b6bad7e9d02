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

// ---- The name guard (native/nameguard/, issue 18 item 2) ----
//
// Inside a sandbox's /workspace no entry named `.git` (any case) or `HEAD` may be made, and
// nothing under a `.git` there may be written, made, renamed, removed, linked from, chmod'ed or
// given xattrs: the host's git (an IDE's `git status` in a sub-folder) would obey a repository
// the sandbox made there. The calls below go to a supervisor (seccomp user notification) that
// does them itself, on what it resolved, after the check; everything else stays in the kernel.

/** open flags (asm-generic/fcntl.h) that let an open create or change a file: only such opens are guarded. */
const O_WRONLY = 0o1;
const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;
export const NAMEGUARD_WRITE_FLAGS: readonly number[] = [O_WRONLY, O_RDWR, O_CREAT, O_TRUNC];

/** A call the supervisor performs; flagsArg: guarded only when that argument has a write flag. */
export interface GuardedCall {
  syscall: string;
  number?: number;
  flagsArg?: number;
}

export const NAMEGUARD_CALLS: readonly GuardedCall[] = [
  { syscall: "open", flagsArg: 1 },
  { syscall: "openat", flagsArg: 2 },
  { syscall: "creat" },
  { syscall: "mkdir" },
  { syscall: "mkdirat" },
  { syscall: "mknod" },
  { syscall: "mknodat" },
  { syscall: "symlink" },
  { syscall: "symlinkat" },
  { syscall: "link" },
  { syscall: "linkat" },
  { syscall: "rename" },
  { syscall: "renameat" },
  { syscall: "renameat2" },
  { syscall: "unlink" },
  { syscall: "unlinkat" },
  { syscall: "rmdir" },
  { syscall: "truncate" },
  { syscall: "chmod" },
  { syscall: "fchmod" },
  { syscall: "fchmodat" },
  { syscall: "fchmodat2", number: 452 },
  { syscall: "setxattr" },
  { syscall: "lsetxattr" },
  { syscall: "fsetxattr" },
  { syscall: "removexattr" },
  { syscall: "lremovexattr" },
  { syscall: "fremovexattr" },
];

/** git's discovery names: `.git` (compared in any case: case-folding filesystems, git's own checks) and a bare repository's `HEAD`. */
export const NAMEGUARD_NAMES = { anyCase: [".git"], exact: ["HEAD"] } as const;

const CLONE_NEWUSER = 0x10000000;

/**
 * Refused to guarded processes: a user namespace of their own would give them mount rights,
 * and a bind or a new mount namespace would put the workspace on another mount (the guard
 * knows it by its mount). clone3 takes its flags in a struct a filter cannot read: ENOSYS, and
 * libc falls back to clone. The *xattrat calls (Linux 6.13) are not emulated: ENOSYS.
 */
export const NAMEGUARD_RULES: readonly SeccompRule[] = [
  { syscall: "unshare", when: { arg: 0, mask: CLONE_NEWUSER, value: CLONE_NEWUSER }, errno: "EPERM", why: "a user namespace could mount around the guard" },
  { syscall: "clone", when: { arg: 0, mask: CLONE_NEWUSER, value: CLONE_NEWUSER }, errno: "EPERM", why: "a user namespace could mount around the guard" },
  { syscall: "clone3", number: 435, errno: "ENOSYS", why: "its flags are in a struct: libc falls back to clone" },
  { syscall: "openat2", number: 437, errno: "ENOSYS", why: "its flags are in a struct: libc falls back to openat" },
  { syscall: "setxattrat", number: 463, errno: "ENOSYS", why: "not emulated by the guard" },
  { syscall: "removexattrat", number: 466, errno: "ENOSYS", why: "not emulated by the guard" },
];
