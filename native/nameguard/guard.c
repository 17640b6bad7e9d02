/* The guard's one test: does a directory or object the supervisor has opened lie in the
 * workspace tree, and is it (or anything above it there) named `.git`? "In the workspace" is
 * decided by where the kernel resolved it (its mount: the workspace's own mount, found from the
 * target's root), never by the string the target passed; the names come from the policy. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nameguard.h"
#include "nameguard-rules.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif

static char workspace[PATH_MAX] = "/workspace";
static size_t workspace_len = 10;
static uint64_t workspace_mount;
static int follow_root;

void guard_follow_root(void) { follow_root = 1; }

void guard_init(const char *path) {
  snprintf(workspace, sizeof workspace, "%s", path);
  workspace_len = strlen(workspace);
  while (workspace_len > 1 && workspace[workspace_len - 1] == '/') workspace[--workspace_len] = 0;
}

static int mount_of(int dirfd, const char *path, int flags, uint64_t *id) {
  struct statx stx;
  if (statx(dirfd, path, flags, STATX_MNT_ID_UNIQUE, &stx) != 0) return -errno;
  if (!(stx.stx_mask & STATX_MNT_ID_UNIQUE)) {
    if (statx(dirfd, path, flags, STATX_MNT_ID, &stx) != 0) return -errno;
    if (!(stx.stx_mask & STATX_MNT_ID)) return -ENOSYS;
  }
  *id = stx.stx_mnt_id;
  return 0;
}

/* The workspace's mount as the target's root has it (the target cannot mount: see the policy).
 * Following the root (a daemon that moves its root into the share itself, as virtiofsd's
 * pivot_root does), it is looked up again at each call: the mount is a new one after the move. */
static int find_workspace(struct target *t) {
  if (workspace_mount && !follow_root) return 0;
  int root = target_root(t);
  if (root < 0) return root;
  uint64_t id;
  int rc = workspace_len == 1 ? mount_of(root, "", AT_EMPTY_PATH, &id) : mount_of(root, workspace + 1, AT_SYMLINK_NOFOLLOW, &id);
  if (rc < 0) return rc;
  workspace_mount = id;
  return 0;
}

int name_is_git(const char *name) {
  for (size_t i = 0; i < sizeof HEYVM_GUARD_NAMES_ANY_CASE / sizeof HEYVM_GUARD_NAMES_ANY_CASE[0]; i++)
    if (strcasecmp(name, HEYVM_GUARD_NAMES_ANY_CASE[i]) == 0) return 1;
  return 0;
}

int name_is_create_refused(const char *name) {
  if (name_is_git(name)) return 1;
  for (size_t i = 0; i < sizeof HEYVM_GUARD_NAMES_EXACT / sizeof HEYVM_GUARD_NAMES_EXACT[0]; i++)
    if (strcmp(name, HEYVM_GUARD_NAMES_EXACT[i]) == 0) return 1;
  return 0;
}

/* 1 when FD is on the workspace's mount, 0 when not, -errno when that cannot be told. */
int guard_is_workspace(struct target *t, int fd) {
  int rc = find_workspace(t);
  if (rc < 0) return rc;
  uint64_t id;
  if ((rc = mount_of(fd, "", AT_EMPTY_PATH, &id)) < 0) return rc;
  return id == workspace_mount;
}

int guard_location(struct target *t, int fd) {
  int inside = guard_is_workspace(t, fd);
  if (inside < 0) return -EPERM;
  return inside ? guard_path(fd) : 0;
}

int guard_path(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n < 0) return -EPERM;
  path[n] = 0;
  const char *rest = path;
  if (workspace_len > 1) {
    if (strncmp(path, workspace, workspace_len) != 0 || (path[workspace_len] != '/' && path[workspace_len] != 0)) return -EPERM;
    rest = path + workspace_len;
  }
  for (char *name = strtok((char *)rest, "/"); name; name = strtok(NULL, "/"))
    if (name_is_git(name)) return -EPERM;
  return 0;
}
