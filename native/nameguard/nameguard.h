/* heyvm-nameguard: the seccomp user-notification supervisor that keeps git's discovery names
 * out of a sandbox's /workspace (policy: src/backends/seccomp-policy.ts, NAMEGUARD_*). */
#ifndef HEYVM_NAMEGUARD_H
#define HEYVM_NAMEGUARD_H
#include <limits.h>
#include <linux/filter.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/seccomp-rule.h"

/* A call that goes to the supervisor; flags_arg >= 0: only when that argument has a write flag. */
struct heyvm_guarded {
  const char *syscall;
  int number;
  int flags_arg;
};

/* filter.c */
/* The guard's BPF program (malloc'ed, *len instructions), or NULL with a message on stderr. */
struct sock_filter *guard_program(unsigned short *len);
/* Loads PROG on the calling thread with a listener; returns the listener fd or -errno. */
int install_program(struct sock_filter *prog, unsigned short len);
/* The name of syscall NR on seccomp architecture ARCH (static storage), or NULL. */
const char *syscall_name(uint32_t arch, int nr);

/* fdpass.c */
int send_fd(int sock, int fd, const void *data, size_t len);
/* Receives one message (and its fd, or -1); returns the byte count or -errno. */
ssize_t recv_fd(int sock, int *fd, void *data, size_t len);

/* The target of a notification, as the supervisor reaches it. */
struct target {
  pid_t pid;      /* the thread, in the supervisor's pid namespace */
  int proc;       /* /proc/<pid> */
  int root;       /* its root directory, -1 until needed */
  char self[32];  /* what /proc/self means in its own /proc ("<tgid>") */
  char thread_self[64];
};

/* resolve.c */
struct resolved {
  int parent;            /* O_PATH directory holding NAME, or -1 */
  char name[NAME_MAX + 1];
  int object;            /* O_PATH fd of the object itself when a /proc magic link was the last step, else -1 */
};
/* Walks PATH from START as the target's kernel would (the target's root, its /proc/self).
 * follow: follow a trailing symbolic link. Returns 0 or -errno; the caller closes the fds. */
int resolve_path(struct target *t, int start, const char *path, int follow, struct resolved *out);
/* The target's dirfd argument as an O_PATH fd of ours (AT_FDCWD: its working directory). */
int target_dirfd(struct target *t, int dirfd);
int target_root(struct target *t);

/* guard.c */
void guard_init(const char *workspace);
/* The workspace is found anew at each call from the target's root of the moment (run --follow-root). */
void guard_follow_root(void);
/* 0 when an object/parent fd lies outside the guarded tree or in it without a refused
 * component; -EPERM when it lies in a `.git` (or the tree cannot be told): see guard.c */
int guard_location(struct target *t, int fd);
int guard_is_workspace(struct target *t, int fd);
/* For an fd known to be on the workspace's mount: -EPERM when a `.git` is in its path there. */
int guard_path(int fd);
int name_is_git(const char *name);
int name_is_create_refused(const char *name);

/* supervise.c */
int supervise(int listener);
int check_handlers(void);

#endif
