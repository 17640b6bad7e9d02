/* The supervisor's loop and one handler per guarded call. Every call is done here, on the
 * target's behalf, on what resolve.c opened (never answered CONTINUE: the target could change
 * the path after the check); results go back as the call's value or errno, a new file as a file
 * descriptor in the target (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND). The target's
 * memory is read through /proc/<pid>/mem opened beside its /proc folder, and the notification is
 * checked still valid after both are open (seccomp_unotify(2)), so a reused pid is never read. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "nameguard.h"
#include "nameguard-rules.h"

#define ASYNC 1 /* a handler answered (or will answer) itself */

struct call {
  struct target *t;
  struct seccomp_notif *req;
  int listener;
  int mem;
  int newfd;       /* set by a handler that made a file for the target */
  int newfd_flags; /* O_CLOEXEC or 0 */
};

static uint64_t arg(struct call *c, int i) { return c->req->data.args[i]; }
static int iarg(struct call *c, int i) { return (int)arg(c, i); }

/* A NUL-terminated string from the target's memory. */
static int fetch(struct call *c, uint64_t addr, char *buf, size_t cap) {
  if (!addr) return -EFAULT;
  size_t got = 0;
  while (got < cap) {
    size_t chunk = 4096 - ((addr + got) % 4096);
    if (chunk > cap - got) chunk = cap - got;
    ssize_t n = pread(c->mem, buf + got, chunk, (off_t)(addr + got));
    if (n <= 0) return -EFAULT;
    void *nul = memchr(buf + got, 0, (size_t)n);
    if (nul) return 0;
    got += (size_t)n;
  }
  return -ENAMETOOLONG;
}

static int fetch_bytes(struct call *c, uint64_t addr, void *buf, size_t len) {
  if (len == 0) return 0;
  if (!addr) return -EFAULT;
  ssize_t n = pread(c->mem, buf, len, (off_t)addr);
  return n == (ssize_t)len ? 0 : -EFAULT;
}

static mode_t target_umask(struct call *c) {
  int fd = openat(c->t->proc, "status", O_RDONLY | O_CLOEXEC);
  mode_t mask = 022;
  if (fd < 0) return mask;
  char text[4096];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n > 0) {
    text[n] = 0;
    char *line = strstr(text, "\nUmask:");
    if (line) mask = (mode_t)strtoul(line + 7, NULL, 8) & 0777;
  }
  return mask;
}

static void close_resolved(struct resolved *r) {
  if (r->parent >= 0) close(r->parent);
  if (r->object >= 0) close(r->object);
  r->parent = r->object = -1;
}

/* Resolves a (dirfd, path) pair of the call. */
static int resolve_at(struct call *c, int dirfd, const char *path, int follow, struct resolved *out) {
  out->parent = out->object = -1;
  if (path[0] == '/') return resolve_path(c->t, -1, path, follow, out);
  int start = target_dirfd(c->t, dirfd);
  if (start < 0) return start;
  int rc = resolve_path(c->t, start, path, follow, out);
  close(start);
  return rc;
}

static int resolve_arg(struct call *c, int dirfd, int path_arg, int follow, struct resolved *out, char *path) {
  int rc = fetch(c, arg(c, path_arg), path, PATH_MAX);
  if (rc < 0) return rc;
  return resolve_at(c, dirfd, path, follow, out);
}

/* The object a resolved path names (O_PATH, not following a last link). */
static int object_of(struct resolved *r) {
  if (r->object >= 0) return fcntl(r->object, F_DUPFD_CLOEXEC, 0);
  int fd = openat(r->parent, r->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* May an entry NAME in PARENT be made (creating: HEAD too) or removed/written (.git only)? */
static int guard_entry(struct call *c, struct resolved *r, int creating) {
  int inside = guard_is_workspace(c->t, r->parent);
  if (inside < 0) return -EPERM;
  if (!inside) return 0;
  if (creating ? name_is_create_refused(r->name) : name_is_git(r->name)) return -EPERM;
  if (guard_path(r->parent) < 0) return -EPERM;
  if (strcmp(r->name, "..") == 0 || r->object >= 0) { /* the object is elsewhere than PARENT/NAME */
    int obj = object_of(r);
    if (obj < 0) return obj;
    int rc = guard_location(c->t, obj);
    close(obj);
    if (rc < 0) return rc;
  }
  return 0;
}

static int guard_object(struct call *c, int obj) { return guard_location(c->t, obj) < 0 ? -EPERM : 0; }

static void magic_path(char *buf, size_t cap, int fd) { snprintf(buf, cap, "/proc/self/fd/%d", fd); }

static int result(long rc) { return rc < 0 ? -errno : 0; }

static int with_umask(struct call *c, int (*op)(struct resolved *, uint64_t, uint64_t), struct resolved *r, uint64_t a, uint64_t b) {
  mode_t old = umask(target_umask(c));
  int rc = op(r, a, b);
  umask(old);
  return rc;
}

/* ---- what the target already holds: its controlling terminal, an object of its fd table ---- */

/* The kernel answers /dev/tty (5:0) with the opener's controlling terminal; re-opened here it
 * would be the supervisor's (none: ENXIO). A magic link to a pipe, socket or terminal re-opened
 * is checked against the inode's owner (heyvm's own relay pipes are 0600, not the sandbox
 * user's) or refused (sockets: ENXIO). So such opens are answered with a duplicate
 * (pidfd_getfd) of one of the target's own descriptors on that object, of an access mode that
 * covers FLAGS: the sandbox gets nothing it does not already hold. */

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

static int is_ctty_node(const struct stat *st) { return S_ISCHR(st->st_mode) && major(st->st_rdev) == 5 && minor(st->st_rdev) == 0; }

/* The target's controlling terminal (tty_nr of /proc/<pid>/stat), 0 when it has none. */
static dev_t target_ctty(struct call *c) {
  int fd = openat(c->t->proc, "stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[1024];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = 0;
  char *p = strrchr(text, ')'); /* after the command name, which may hold anything */
  char state;
  unsigned tty; /* state ppid pgrp session tty_nr */
  if (!p || sscanf(p + 1, " %c %*d %*d %*d %u", &state, &tty) != 2) return 0;
  return makedev((tty >> 8) & 0xfff, (tty & 0xff) | ((tty >> 12) & 0xfff00));
}

static int access_covers(int held, int flags) {
  if (held & O_PATH) return 0;
  int want = flags & O_ACCMODE, have = held & O_ACCMODE;
  return have == O_RDWR || have == want;
}

static int same_object(const struct stat *st, const struct stat *match, dev_t tty) {
  return tty ? S_ISCHR(st->st_mode) && st->st_rdev == tty : st->st_dev == match->st_dev && st->st_ino == match->st_ino;
}

/* A duplicate of one of the target's descriptors on MATCH (the terminal TTY when set), able to do
 * what FLAGS ask; if it holds it only otherwise, that one re-opened with OPEN_FLAGS (checked as
 * the supervisor); -ENOENT when it holds no such descriptor. */
static int held_object(struct call *c, const struct stat *match, dev_t tty, int flags, int open_flags) {
  int pidfd = (int)syscall(SYS_pidfd_open, c->t->pid, PIDFD_THREAD);
  if (pidfd < 0) pidfd = (int)syscall(SYS_pidfd_open, c->t->pid, 0);
  if (pidfd < 0) return -errno;
  /* the pidfd is the target's only if the notification is still pending (no pid reuse) */
  if (ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &c->req->id) != 0) {
    close(pidfd);
    return -ENOENT;
  }
  int dir = openat(c->t->proc, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *fds = dir < 0 ? NULL : fdopendir(dir);
  if (!fds) {
    if (dir >= 0) close(dir);
    close(pidfd);
    return -EPERM;
  }
  int found = -ENOENT, other = -1;
  for (struct dirent *e; found < 0 && (e = readdir(fds));) {
    struct stat st;
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || fstatat(dirfd(fds), e->d_name, &st, 0) != 0 || !same_object(&st, match, tty)) continue;
    int fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0);
    if (fd < 0) continue;
    /* what we got, not what was listed: the target may have swapped that descriptor meanwhile */
    int held = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || !same_object(&st, match, tty) || held < 0) close(fd);
    else if (access_covers(held, flags)) found = fd;
    else if (other < 0 && !(held & O_PATH)) other = fd;
    else close(fd);
  }
  closedir(fds);
  close(pidfd);
  if (found < 0 && other >= 0) {
    char magic[64];
    magic_path(magic, sizeof magic, other);
    found = open(magic, open_flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW));
    if (found < 0) found = -errno;
  }
  if (other >= 0 && other != found) close(other);
  return found;
}

/* do_open for an object the target holds: 1 (and *fd, or -errno) when answered so, 0 to open as usual. */
static int open_held(struct call *c, struct resolved *r, int flags, int open_flags, int *fd) {
  struct stat st;
  if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL) || (flags & O_DIRECTORY)) return 0; /* EEXIST, ENOTDIR as the kernel says */
  if (r->object >= 0 ? fstat(r->object, &st) != 0 : fstatat(r->parent, r->name, &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  if (is_ctty_node(&st)) {
    dev_t tty = target_ctty(c);
    *fd = tty ? held_object(c, NULL, tty, flags, open_flags) : -ENXIO;
    if (*fd == -ENOENT) *fd = -ENXIO; /* a terminal it holds no descriptor of: not reachable from here */
    return 1;
  }
  if (r->object < 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return 0;
  if (guard_object(c, r->object) < 0) return 0; /* a fifo under a .git: refused as before */
  *fd = held_object(c, &st, 0, flags, open_flags);
  return *fd != -ENOENT; /* not the target's own: re-opened and checked as before */
}

/* ---- open, openat, creat ---- */

static int answer_fd(struct call *c, int fd, int cloexec);

static int do_open(struct call *c, int dirfd, int path_arg, int flags, mode_t mode) {
  char path[PATH_MAX];
  struct resolved r;
  int excl_create = (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
  int follow = !(flags & O_NOFOLLOW) && !excl_create;
  int rc = resolve_arg(c, dirfd, path_arg, follow, &r, path);
  if (rc < 0) return rc;
  int open_flags = (flags & ~O_CLOEXEC) | O_NOCTTY | O_CLOEXEC;
  int fd = -1;
  if (open_held(c, &r, flags, open_flags, &fd)) {
    rc = fd < 0 ? fd : 0;
  } else if (r.object >= 0) { /* through a magic link: reopen that object with the flags */
    rc = guard_object(c, r.object);
    if (rc == 0) {
      char magic[64];
      magic_path(magic, sizeof magic, r.object);
      fd = open(magic, open_flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), mode);
      rc = fd < 0 ? -errno : 0;
    }
  } else {
    if (name_is_git(r.name) || ((flags & O_CREAT) && name_is_create_refused(r.name))) rc = guard_entry(c, &r, 1);
    else rc = guard_entry(c, &r, 0);
    if (rc == 0) {
      struct stat st;
      if (!(flags & O_NONBLOCK) && fstatat(r.parent, r.name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISFIFO(st.st_mode)) {
        /* opening a fifo waits for its other end: in a child, so other calls go on */
        pid_t pid = fork();
        if (pid == 0) {
          int child_fd = openat(r.parent, r.name, open_flags | (follow ? 0 : O_NOFOLLOW), mode);
          if (child_fd < 0) {
            struct seccomp_notif_resp resp = { .id = c->req->id, .error = -errno };
            ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
          } else answer_fd(c, child_fd, flags & O_CLOEXEC);
          _exit(0);
        }
        close_resolved(&r);
        return pid < 0 ? -EAGAIN : ASYNC;
      }
      mode_t old = umask(flags & O_CREAT ? target_umask(c) : 0);
      fd = openat(r.parent, r.name, open_flags | O_NOFOLLOW, mode);
      rc = fd < 0 ? -errno : 0;
      umask(old); /* ELOOP: the last name is a link (O_NOFOLLOW), or became one since it was resolved */
    }
  }
  close_resolved(&r);
  if (rc < 0) return rc;
  c->newfd = fd;
  c->newfd_flags = flags & O_CLOEXEC;
  return 0;
}

static int h_open(struct call *c) { return do_open(c, AT_FDCWD, 0, iarg(c, 1), (mode_t)arg(c, 2)); }
static int h_openat(struct call *c) { return do_open(c, iarg(c, 0), 1, iarg(c, 2), (mode_t)arg(c, 3)); }
static int h_creat(struct call *c) { return do_open(c, AT_FDCWD, 0, O_CREAT | O_WRONLY | O_TRUNC, (mode_t)arg(c, 1)); }

/* ---- names made: mkdir, mknod, symlink ---- */

static int op_mkdir(struct resolved *r, uint64_t mode, uint64_t unused) {
  (void)unused;
  return result(mkdirat(r->parent, r->name, (mode_t)mode));
}
static int op_mknod(struct resolved *r, uint64_t mode, uint64_t dev) { return result(mknodat(r->parent, r->name, (mode_t)mode, (dev_t)dev)); }

static int make_entry(struct call *c, int dirfd, int path_arg, int (*op)(struct resolved *, uint64_t, uint64_t), uint64_t a, uint64_t b) {
  char path[PATH_MAX];
  struct resolved r;
  int rc = resolve_arg(c, dirfd, path_arg, 0, &r, path);
  if (rc == 0) rc = guard_entry(c, &r, 1);
  if (rc == 0) rc = with_umask(c, op, &r, a, b);
  close_resolved(&r);
  return rc;
}

static int h_mkdir(struct call *c) { return make_entry(c, AT_FDCWD, 0, op_mkdir, arg(c, 1), 0); }
static int h_mkdirat(struct call *c) { return make_entry(c, iarg(c, 0), 1, op_mkdir, arg(c, 2), 0); }
static int h_mknod(struct call *c) { return make_entry(c, AT_FDCWD, 0, op_mknod, arg(c, 1), arg(c, 2)); }
static int h_mknodat(struct call *c) { return make_entry(c, iarg(c, 0), 1, op_mknod, arg(c, 2), arg(c, 3)); }

static int do_symlink(struct call *c, int target_arg, int dirfd, int path_arg) {
  char target[PATH_MAX], path[PATH_MAX];
  struct resolved r;
  int rc = fetch(c, arg(c, target_arg), target, sizeof target);
  if (rc < 0) return rc;
  rc = resolve_arg(c, dirfd, path_arg, 0, &r, path);
  if (rc == 0) rc = guard_entry(c, &r, 1);
  if (rc == 0) rc = result(symlinkat(target, r.parent, r.name));
  close_resolved(&r);
  return rc;
}

static int h_symlink(struct call *c) { return do_symlink(c, 0, AT_FDCWD, 1); }
static int h_symlinkat(struct call *c) { return do_symlink(c, 0, iarg(c, 1), 2); }

/* ---- link, rename, unlink ---- */

static int do_link(struct call *c, int olddir, int old_arg, int newdir, int new_arg, int flags) {
  char oldpath[PATH_MAX], newpath[PATH_MAX];
  struct resolved from, to;
  to.parent = to.object = -1;
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  int rc = fetch(c, arg(c, old_arg), oldpath, sizeof oldpath);
  if (rc < 0) return rc;
  if (!oldpath[0]) return -ENOENT; /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, which no sandbox has */
  rc = resolve_at(c, olddir, oldpath, flags & AT_SYMLINK_FOLLOW, &from);
  if (rc < 0) return rc;
  int obj = object_of(&from);
  if (obj < 0) rc = obj;
  if (rc == 0) rc = guard_entry(c, &from, 0);
  if (rc == 0) rc = guard_object(c, obj);
  if (rc == 0) rc = resolve_arg(c, newdir, new_arg, 0, &to, newpath);
  if (rc == 0) rc = guard_entry(c, &to, 1);
  if (rc == 0) {
    char magic[64];
    magic_path(magic, sizeof magic, obj);
    rc = result(linkat(AT_FDCWD, magic, to.parent, to.name, AT_SYMLINK_FOLLOW));
  }
  if (obj >= 0) close(obj);
  close_resolved(&from);
  close_resolved(&to);
  return rc;
}

static int h_link(struct call *c) { return do_link(c, AT_FDCWD, 0, AT_FDCWD, 1, 0); }
static int h_linkat(struct call *c) { return do_link(c, iarg(c, 0), 1, iarg(c, 2), 3, iarg(c, 4)); }

static int do_rename(struct call *c, int olddir, int old_arg, int newdir, int new_arg, unsigned flags) {
  char oldpath[PATH_MAX], newpath[PATH_MAX];
  struct resolved from, to;
  to.parent = to.object = -1;
  int rc = resolve_arg(c, olddir, old_arg, 0, &from, oldpath);
  if (rc < 0) return rc;
  rc = guard_entry(c, &from, 1); /* either name: a .git or HEAD is neither moved in nor out */
  if (rc == 0) rc = resolve_arg(c, newdir, new_arg, 0, &to, newpath);
  if (rc == 0) rc = guard_entry(c, &to, 1);
  if (rc == 0) rc = result(syscall(SYS_renameat2, from.parent, from.name, to.parent, to.name, flags));
  close_resolved(&from);
  close_resolved(&to);
  return rc;
}

static int h_rename(struct call *c) { return do_rename(c, AT_FDCWD, 0, AT_FDCWD, 1, 0); }
static int h_renameat(struct call *c) { return do_rename(c, iarg(c, 0), 1, iarg(c, 2), 3, 0); }
static int h_renameat2(struct call *c) { return do_rename(c, iarg(c, 0), 1, iarg(c, 2), 3, (unsigned)arg(c, 4)); }

static int do_unlink(struct call *c, int dirfd, int path_arg, int flags) {
  char path[PATH_MAX];
  struct resolved r;
  int rc = resolve_arg(c, dirfd, path_arg, 0, &r, path);
  if (rc == 0) rc = guard_entry(c, &r, 0);
  if (rc == 0) rc = result(unlinkat(r.parent, r.name, flags));
  close_resolved(&r);
  return rc;
}

static int h_unlink(struct call *c) { return do_unlink(c, AT_FDCWD, 0, 0); }
static int h_unlinkat(struct call *c) { return do_unlink(c, iarg(c, 0), 1, iarg(c, 2)); }
static int h_rmdir(struct call *c) { return do_unlink(c, AT_FDCWD, 0, AT_REMOVEDIR); }

/* ---- what changes an existing object: truncate, chmod, xattrs ---- */

/* The object a (dirfd, path) names, or the target's FD itself (path_arg < 0 or AT_EMPTY_PATH with ""), guarded. */
static int guarded_object(struct call *c, int dirfd, int path_arg, int follow, int empty_ok) {
  char path[PATH_MAX];
  struct resolved r;
  int obj, rc;
  if (path_arg >= 0 && (rc = fetch(c, arg(c, path_arg), path, sizeof path)) < 0) return rc;
  if (path_arg < 0 || (empty_ok && !path[0])) {
    obj = target_dirfd(c->t, dirfd);
    if (obj < 0) return obj;
  } else {
    if ((rc = resolve_at(c, dirfd, path, follow, &r)) < 0) return rc;
    rc = guard_entry(c, &r, 0);
    obj = rc < 0 ? rc : object_of(&r);
    close_resolved(&r);
    if (obj < 0) return obj;
  }
  if ((rc = guard_object(c, obj)) < 0) {
    close(obj);
    return rc;
  }
  return obj;
}

static int h_truncate(struct call *c) {
  int obj = guarded_object(c, AT_FDCWD, 0, 1, 0);
  if (obj < 0) return obj;
  char magic[64];
  magic_path(magic, sizeof magic, obj);
  int rc = result(truncate(magic, (off_t)arg(c, 1)));
  close(obj);
  return rc;
}

static int chmod_object(int obj, mode_t mode) {
  struct stat st;
  if (fstat(obj, &st) == 0 && S_ISLNK(st.st_mode)) return -EOPNOTSUPP;
  char magic[64];
  magic_path(magic, sizeof magic, obj);
  int rc = result(fchmodat(AT_FDCWD, magic, mode, 0));
  close(obj);
  return rc;
}

static int h_chmod(struct call *c) {
  int obj = guarded_object(c, AT_FDCWD, 0, 1, 0);
  return obj < 0 ? obj : chmod_object(obj, (mode_t)arg(c, 1));
}
static int h_fchmod(struct call *c) {
  int obj = guarded_object(c, iarg(c, 0), -1, 1, 0);
  return obj < 0 ? obj : chmod_object(obj, (mode_t)arg(c, 1));
}
static int h_fchmodat(struct call *c) {
  int obj = guarded_object(c, iarg(c, 0), 1, 1, 0);
  return obj < 0 ? obj : chmod_object(obj, (mode_t)arg(c, 2));
}
static int h_fchmodat2(struct call *c) {
  int flags = iarg(c, 3);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  int obj = guarded_object(c, iarg(c, 0), 1, !(flags & AT_SYMLINK_NOFOLLOW), flags & AT_EMPTY_PATH);
  return obj < 0 ? obj : chmod_object(obj, (mode_t)arg(c, 2));
}

static int set_xattr(struct call *c, int obj, int name_arg) {
  char name[XATTR_NAME_MAX + 1];
  static char value[XATTR_SIZE_MAX];
  size_t size = (size_t)arg(c, name_arg + 2);
  int rc = fetch(c, arg(c, name_arg), name, sizeof name);
  if (rc == -ENAMETOOLONG) rc = -ERANGE;
  if (rc == 0 && size > sizeof value) rc = -E2BIG;
  if (rc == 0) rc = fetch_bytes(c, arg(c, name_arg + 1), value, size);
  if (rc == 0) {
    char magic[64];
    magic_path(magic, sizeof magic, obj);
    rc = result(setxattr(magic, name, value, size, iarg(c, name_arg + 3)));
  }
  close(obj);
  return rc;
}

static int remove_xattr(struct call *c, int obj, int name_arg) {
  char name[XATTR_NAME_MAX + 1];
  int rc = fetch(c, arg(c, name_arg), name, sizeof name);
  if (rc == -ENAMETOOLONG) rc = -ERANGE;
  if (rc == 0) {
    char magic[64];
    magic_path(magic, sizeof magic, obj);
    rc = result(removexattr(magic, name));
  }
  close(obj);
  return rc;
}

static int h_setxattr(struct call *c) { int o = guarded_object(c, AT_FDCWD, 0, 1, 0); return o < 0 ? o : set_xattr(c, o, 1); }
static int h_lsetxattr(struct call *c) { int o = guarded_object(c, AT_FDCWD, 0, 0, 0); return o < 0 ? o : set_xattr(c, o, 1); }
static int h_fsetxattr(struct call *c) { int o = guarded_object(c, iarg(c, 0), -1, 1, 0); return o < 0 ? o : set_xattr(c, o, 1); }
static int h_removexattr(struct call *c) { int o = guarded_object(c, AT_FDCWD, 0, 1, 0); return o < 0 ? o : remove_xattr(c, o, 1); }
static int h_lremovexattr(struct call *c) { int o = guarded_object(c, AT_FDCWD, 0, 0, 0); return o < 0 ? o : remove_xattr(c, o, 1); }
static int h_fremovexattr(struct call *c) { int o = guarded_object(c, iarg(c, 0), -1, 1, 0); return o < 0 ? o : remove_xattr(c, o, 1); }

struct handler {
  const char *syscall;
  int (*run)(struct call *);
};

static const struct handler HANDLERS[] = {
  { "open", h_open }, { "openat", h_openat }, { "creat", h_creat },
  { "mkdir", h_mkdir }, { "mkdirat", h_mkdirat }, { "mknod", h_mknod }, { "mknodat", h_mknodat },
  { "symlink", h_symlink }, { "symlinkat", h_symlinkat },
  { "link", h_link }, { "linkat", h_linkat },
  { "rename", h_rename }, { "renameat", h_renameat }, { "renameat2", h_renameat2 },
  { "unlink", h_unlink }, { "unlinkat", h_unlinkat }, { "rmdir", h_rmdir },
  { "truncate", h_truncate },
  { "chmod", h_chmod }, { "fchmod", h_fchmod }, { "fchmodat", h_fchmodat }, { "fchmodat2", h_fchmodat2 },
  { "setxattr", h_setxattr }, { "lsetxattr", h_lsetxattr }, { "fsetxattr", h_fsetxattr },
  { "removexattr", h_removexattr }, { "lremovexattr", h_lremovexattr }, { "fremovexattr", h_fremovexattr },
};

static const struct handler *handler_for(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < sizeof HANDLERS / sizeof HANDLERS[0]; i++)
    if (strcmp(HANDLERS[i].syscall, name) == 0) return &HANDLERS[i];
  return NULL;
}

int check_handlers(void) {
  for (size_t i = 0; i < sizeof HEYVM_GUARDED / sizeof HEYVM_GUARDED[0]; i++) {
    if (!handler_for(HEYVM_GUARDED[i].syscall)) {
      fprintf(stderr, "heyvm-nameguard: no handler for %s\n", HEYVM_GUARDED[i].syscall);
      return -1;
    }
  }
  return 0;
}

static int answer_fd(struct call *c, int fd, int cloexec) {
  struct seccomp_notif_addfd addfd = { .id = c->req->id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (uint32_t)fd, .newfd_flags = cloexec ? O_CLOEXEC : 0 };
  int rc = ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  int err = rc < 0 ? errno : 0;
  close(fd);
  if (rc < 0 && err != ENOENT) {
    struct seccomp_notif_resp resp = { .id = c->req->id, .error = -err };
    ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
  return 0;
}

static void answer(int listener, uint64_t id, int rc) {
  struct seccomp_notif_resp resp = { .id = id, .val = 0, .error = rc < 0 ? rc : 0 };
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp); /* ENOENT: the target is gone meanwhile */
}

static void handle(int listener, struct seccomp_notif *req) {
  const struct handler *h = handler_for(syscall_name(req->data.arch, req->data.nr));
  if (!h) {
    answer(listener, req->id, -ENOSYS);
    return;
  }
  char proc[32];
  snprintf(proc, sizeof proc, "/proc/%d", req->pid);
  struct target t = { .pid = (pid_t)req->pid, .root = -1 };
  t.proc = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int mem = t.proc < 0 ? -1 : openat(t.proc, "mem", O_RDONLY | O_CLOEXEC);
  /* both opened for the thread that asked: only now is the pid known to be it */
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) goto done;
  if (mem < 0) {
    answer(listener, req->id, -EPERM);
    goto done;
  }
  struct call c = { .t = &t, .req = req, .listener = listener, .mem = mem, .newfd = -1 };
  int rc = h->run(&c);
  if (rc == ASYNC) goto done;
  if (rc == 0 && c.newfd >= 0) answer_fd(&c, c.newfd, c.newfd_flags);
  else answer(listener, req->id, rc);
done:
  if (mem >= 0) close(mem);
  if (t.proc >= 0) close(t.proc);
  if (t.root >= 0) close(t.root);
}

int supervise(int listener) {
  struct seccomp_notif_sizes sizes;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return -errno;
  struct seccomp_notif *req = calloc(1, sizes.seccomp_notif);
  if (!req) return -ENOMEM;
  struct sigaction reap = { .sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT };
  sigaction(SIGCHLD, &reap, NULL);
  umask(0);
  for (;;) {
    struct pollfd pfd = { .fd = listener, .events = POLLIN };
    if (poll(&pfd, 1, -1) < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (!(pfd.revents & POLLIN)) {
      if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) return 0; /* no target left */
      continue;
    }
    memset(req, 0, sizes.seccomp_notif);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      return -errno;
    }
    handle(listener, req);
  }
}
