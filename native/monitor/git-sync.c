/* The git sync trigger: the sandbox's branch in its own git store, the host's branch and the
 * worktree's .git entry are watched with inotify (each --git-watch PATH: its folder, events on
 * that name, or on any name for `*`); a change runs the sync command (--git-sync-arg words: `heyvm __git_sync <id>`)
 * after a short pause that gathers a burst of events, one run at a time (events during a run
 * make one more run), and every --git-sync-interval-ms in any case (a folder that did not exist
 * yet cannot be watched; it is tried again then). No sync runs once the sandbox is stopping:
 * the stop command makes the last one.
 * The periodic run starts Node only when something it reads may have changed: before it, the
 * monitor takes a fingerprint of what is watched (each path's lstat; for a `*` watch, its folder
 * and everything under it, which also covers refs in subfolders that inotify does not watch)
 * and skips the run when it equals the one taken when the last successful run started. */
#include "monitor.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define GATHER_MS 30

static int inotify_fd = -1;
static int watch_ids[MAX_GIT_WATCHES];
static pid_t sync_pid = -1;
static int pending;              /* a change was seen: run once GATHER_MS have passed */
static long long due_at;         /* when the pending run starts */
static long long next_periodic;  /* when the periodic run is due */
static unsigned long long started_print; /* the fingerprint when the running sync started */
static unsigned long long synced_print;  /* ... when the last successful one started; 0: none yet */

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static void add_watches(void) {
  if (inotify_fd < 0) return;
  for (int i = 0; i < cfg.git_watch_count; i++) {
    if (watch_ids[i] >= 0) continue;
    char folder[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", cfg.git_watch[i]);
    char *slash = strrchr(folder, '/');
    if (!slash || slash == folder) continue;
    *slash = '\0';
    watch_ids[i] = inotify_add_watch(inotify_fd, folder, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
  }
}

void git_sync_init(void) {
  if (!git_sync_enabled()) return;
  for (int i = 0; i < MAX_GIT_WATCHES; i++) watch_ids[i] = -1;
  inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) log_owner("git: inotify is not available (%s): the branch is synced every %ld s only", strerror(errno), cfg.git_sync_interval_ms / 1000);
  add_watches();
  next_periodic = now_ms() + cfg.git_sync_interval_ms;
}

int git_sync_enabled(void) { return cfg.git_sync_argv_count > 0; }

int git_sync_fd(void) { return inotify_fd; }

static void schedule(void) {
  if (!pending) due_at = now_ms() + GATHER_MS;
  pending = 1;
}

void git_sync_read(void) {
  char events[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
  ssize_t n;
  while ((n = read(inotify_fd, events, sizeof events)) > 0) {
    for (char *at = events; at < events + n;) {
      struct inotify_event *event = (struct inotify_event *)at;
      for (int i = 0; i < cfg.git_watch_count; i++) {
        if (watch_ids[i] != event->wd) continue;
        if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          watch_ids[i] = -1; /* the folder went: watched again once it is back */
          schedule();
        } else if (event->len > 0 && (strcmp(base_name(cfg.git_watch[i]), "*") == 0 || strcmp(event->name, base_name(cfg.git_watch[i])) == 0)) {
          schedule();
        }
      }
      at += sizeof *event + event->len;
    }
  }
}

static unsigned long long mix(unsigned long long hash, unsigned long long value) {
  hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
  return hash * 0x100000001b3ULL;
}

/* One path's identity and times; a folder's adds its entries' (order-free: summed), to a depth. */
static unsigned long long path_print(const char *path, int depth) {
  struct stat st;
  if (lstat(path, &st) != 0) return mix(1, (unsigned long long)errno);
  unsigned long long hash = mix(mix(mix(mix(2, st.st_ino), (unsigned long long)st.st_size), (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)st.st_mtim.tv_nsec), (unsigned long long)st.st_ctim.tv_sec * 1000000000ULL + (unsigned long long)st.st_ctim.tv_nsec);
  if (!S_ISDIR(st.st_mode) || depth <= 0) return hash;
  DIR *dir = opendir(path);
  if (!dir) return mix(hash, 3);
  unsigned long long entries = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    char child[PATH_MAX];
    if (snprintf(child, sizeof child, "%s/%s", path, entry->d_name) >= (int)sizeof child) continue;
    entries += mix(path_print(child, depth - 1), 4);
  }
  closedir(dir);
  return mix(hash, entries);
}

/* The fingerprint of everything watched; never 0. */
static unsigned long long watched_print(void) {
  unsigned long long hash = 5;
  for (int i = 0; i < cfg.git_watch_count; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", cfg.git_watch[i]);
    int every = strcmp(base_name(path), "*") == 0;
    char *slash = strrchr(path, '/');
    if (every && slash) *slash = '\0'; /* the folder itself, and what is under it */
    hash = mix(hash, path_print(path, every ? 16 : 0));
  }
  return hash ? hash : 1;
}

static void start_sync(void) {
  started_print = watched_print();
  pid_t pid = fork();
  if (pid == 0) exec_heyvm_command(cfg.git_sync_argv);
  if (pid < 0) {
    log_owner("git: could not run the sync (%s)", strerror(errno));
    return;
  }
  sync_pid = pid;
  pending = 0;
  next_periodic = now_ms() + cfg.git_sync_interval_ms;
}

int git_sync_unchanged(void) {
  return git_sync_enabled() && synced_print != 0 && sync_pid < 0 && !pending && watched_print() == synced_print;
}

int git_sync_reaped(pid_t pid, int status) {
  if (pid != sync_pid) return 0;
  sync_pid = -1;
  synced_print = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? started_print : 0; /* a failed run is tried again */
  return 1;
}

int git_sync_tick(int timeout) {
  if (!git_sync_enabled() || state != RUNNING) return timeout;
  long long now = now_ms();
  if (now >= next_periodic && !pending && sync_pid < 0) {
    add_watches();
    if (synced_print != 0 && watched_print() == synced_print) {
      next_periodic = now + cfg.git_sync_interval_ms; /* nothing it reads changed: no Node start */
    } else {
      schedule();
      due_at = now;
    }
  }
  if (pending && sync_pid < 0 && now >= due_at) start_sync();
  long long wake = sync_pid >= 0 ? next_periodic : (pending ? due_at : next_periodic);
  long long left = wake - now_ms();
  if (sync_pid >= 0 && pending) left = 20; /* a run is under way and another is wanted: look again soon */
  if (left < 0) left = 0;
  if (timeout < 0 || left < timeout) timeout = left > 60000 ? 60000 : (int)left;
  return timeout;
}
