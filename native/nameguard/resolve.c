/* Path resolution in the target's view, done by the supervisor one component at a time with
 * O_PATH|O_NOFOLLOW opens: absolute paths start at the target's root (/proc/<pid>/root), relative
 * ones at its dirfd or working directory, symbolic links are read and spliced in, and /proc's
 * `self` and `thread-self` mean the target (the supervisor is not in its pid namespace); other
 * links inside /proc (fd/N, cwd, root: magic links) are followed by the kernel. The caller then
 * acts on the (parent fd, last name) pair it gets, so nothing the target changes afterwards (its
 * memory, another thread) can redirect the call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "nameguard.h"

#define MAX_LINKS 40
#define PROC_MAGIC 0x9fa0
#define PROC_ROOT_INODE 1
#define REST_MAX (2 * PATH_MAX)

/* 1: procfs root, 2: elsewhere in procfs, 0: not procfs */
static int proc_place(int fd) {
  struct statfs fs;
  struct stat st;
  if (fstatfs(fd, &fs) != 0 || fs.f_type != PROC_MAGIC) return 0;
  if (fstat(fd, &st) != 0) return 0;
  return st.st_ino == PROC_ROOT_INODE ? 1 : 2;
}

static int same_dir(int a, int b) {
  struct statx x, y;
  if (statx(a, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &x) != 0) return 0;
  if (statx(b, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &y) != 0) return 0;
  return x.stx_ino == y.stx_ino && x.stx_dev_major == y.stx_dev_major && x.stx_dev_minor == y.stx_dev_minor && x.stx_mnt_id == y.stx_mnt_id;
}

int target_root(struct target *t) {
  if (t->root < 0) t->root = openat(t->proc, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return t->root >= 0 ? t->root : -errno;
}

int target_dirfd(struct target *t, int dirfd) {
  char name[32];
  if (dirfd == AT_FDCWD) snprintf(name, sizeof name, "cwd");
  else if (dirfd < 0) return -EBADF;
  else snprintf(name, sizeof name, "fd/%d", dirfd);
  int fd = openat(t->proc, name, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? -EBADF : -errno;
  return fd;
}

/* What the target's own /proc calls `self` and `thread-self`: its ids in its innermost pid namespace. */
static int target_self(struct target *t) {
  if (t->self[0]) return 0;
  int fd = openat(t->proc, "status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char text[4096];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -EIO;
  text[n] = 0;
  const char *tgid = NULL, *tid = NULL;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "NStgid:", 7) == 0) tgid = strrchr(line, '\t');
    if (strncmp(line, "NSpid:", 6) == 0) tid = strrchr(line, '\t');
  }
  if (!tgid || !tid) return -EIO;
  snprintf(t->self, sizeof t->self, "%s", tgid + 1);
  snprintf(t->thread_self, sizeof t->thread_self, "%s/task/%s", tgid + 1, tid + 1);
  return 0;
}

/* rest := head + "/" + tail (tail may point into rest) */
static int splice_path(char *rest, const char *head, const char *tail) {
  char joined[REST_MAX];
  int n = snprintf(joined, sizeof joined, "%s/%s", head, tail);
  if (n < 0 || n >= (int)sizeof joined) return -ENAMETOOLONG;
  memcpy(rest, joined, (size_t)n + 1);
  return 0;
}

static int reset_to(int *cur, int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return -errno;
  close(*cur);
  *cur = copy;
  return 0;
}

int resolve_path(struct target *t, int start, const char *path, int follow, struct resolved *out) {
  out->parent = -1;
  out->object = -1;
  out->name[0] = 0;
  if (!path[0]) return -ENOENT;
  if (strlen(path) >= PATH_MAX) return -ENAMETOOLONG;
  int root = target_root(t);
  if (root < 0) return root;
  char rest[REST_MAX];
  snprintf(rest, sizeof rest, "%s", path);
  int cur = fcntl(rest[0] == '/' ? root : start, F_DUPFD_CLOEXEC, 0);
  if (cur < 0) return -errno;
  int links = 0, rc = 0;
  char *p = rest;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) { /* "/" or a path of slashes: the directory itself */
      out->parent = cur;
      strcpy(out->name, ".");
      return 0;
    }
    char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > NAME_MAX) {
      rc = -ENAMETOOLONG;
      break;
    }
    char name[NAME_MAX + 1];
    memcpy(name, p, len);
    name[len] = 0;
    const char *after = p + len;
    while (*after == '/') after++;
    int last = *after == 0;
    int trailing_slash = last && end != NULL;
    int follow_this = !last || follow || trailing_slash;
    int proc_name = strcmp(name, "self") == 0 || strcmp(name, "thread-self") == 0;
    if (follow_this && proc_name && proc_place(cur) == 1) {
      if ((rc = target_self(t)) < 0) break;
      if (++links > MAX_LINKS) { rc = -ELOOP; break; }
      if ((rc = splice_path(rest, strcmp(name, "self") == 0 ? t->self : t->thread_self, after)) < 0) break;
      p = rest;
      continue;
    }
    if (strcmp(name, "..") == 0 && !last) {
      if (!same_dir(cur, root)) {
        int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (up < 0) { rc = -errno; break; }
        close(cur);
        cur = up;
      }
      p = (char *)after;
      continue;
    }
    if (strcmp(name, ".") == 0 && !last) {
      p = (char *)after;
      continue;
    }
    struct stat st;
    if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && last) { /* a name to create */
        out->parent = cur;
        strcpy(out->name, name);
        return 0;
      }
      rc = -errno;
      break;
    }
    if (S_ISLNK(st.st_mode) && follow_this) {
      if (++links > MAX_LINKS) { rc = -ELOOP; break; }
      if (proc_place(cur) == 2) { /* a magic link (/proc/<pid>/fd/N, cwd, root): the kernel follows it */
        int next = openat(cur, name, O_PATH | O_CLOEXEC);
        if (next < 0) { rc = -errno; break; }
        if (last) {
          out->parent = cur;
          strcpy(out->name, name);
          out->object = next;
          return 0;
        }
        close(cur);
        cur = next;
        p = (char *)after;
        continue;
      }
      char target[PATH_MAX];
      ssize_t n = readlinkat(cur, name, target, sizeof target - 1);
      if (n < 0) { rc = -errno; break; }
      target[n] = 0;
      if (target[0] == '/' && (rc = reset_to(&cur, root)) < 0) break;
      if ((rc = splice_path(rest, target, after)) < 0) break;
      p = rest;
      continue;
    }
    if (last) {
      out->parent = cur;
      strcpy(out->name, name);
      return 0;
    }
    if (!S_ISDIR(st.st_mode)) { rc = -ENOTDIR; break; }
    int next = openat(cur, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (next < 0) { rc = -errno; break; }
    close(cur);
    cur = next;
    p = (char *)after;
  }
  close(cur);
  return rc;
}
