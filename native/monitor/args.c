/* The command line the Node owner hands over, as built from the table in src/owner/monitor-argv.ts
 * (which documents each option). The API version comes first and is checked before anything
 * else: a monitor built from another heyvm refuses at once, with its own exit code. There are no
 * defaults for what the table always passes (the stop timings come from TypeScript). */
#include "monitor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config cfg;

__attribute__((noreturn)) static void refuse(int code, const char *message, const char *detail) {
  fprintf(stderr, "heyvm owner monitor: %s%s\n", message, detail);
  exit(code);
}

static long long parse_number(const char *text) {
  char *end;
  errno = 0;
  long long value = strtoll(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0) refuse(EXIT_USAGE, "not a number: ", text);
  return value;
}

static void add_fd(int *list, int *count, const char *flag, const char *value) {
  if (*count >= MAX_FDS) refuse(EXIT_USAGE, "too many of ", flag);
  list[(*count)++] = (int)parse_number(value);
}

/* argv[4..5] must be `--api-version MONITOR_API_VERSION`. */
static void check_api_version(int argc, char **argv) {
  char spoken[32];
  snprintf(spoken, sizeof spoken, "%d", MONITOR_API_VERSION);
  if (argc < 6 || strcmp(argv[4], "--api-version") != 0) {
    fprintf(stderr, "heyvm owner monitor: --api-version must come first; this monitor speaks API version %s\n", spoken);
    exit(EXIT_WRONG_API_VERSION);
  }
  if (strcmp(argv[5], spoken) != 0) {
    fprintf(stderr, "heyvm owner monitor: given API version %s, but this monitor speaks %s: it was built from another version of heyvm (run `npm run build`)\n",
            argv[5], spoken);
    exit(EXIT_WRONG_API_VERSION);
  }
}

void parse_args(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--api-version") == 0) { /* the owner asks before it execs */
    printf("%d\n", MONITOR_API_VERSION);
    exit(0);
  }
  if (argc < 4 || strcmp(argv[3], "--monitor") != 0)
    refuse(EXIT_USAGE, "started without --monitor; it is run by `heyvm __sandbox_owner`", "");
  check_api_version(argc, argv);
  cfg.id = argv[2];
  cfg.listen_fd = cfg.child = cfg.ready_fd = -1;
  cfg.watch_fd = -1;
  cfg.stop_timeout_ms = cfg.force_wait_ms = -1;
  for (int i = 6; i < argc; i++) {
    const char *flag = argv[i];
    if (strcmp(flag, "--") == 0) {
      cfg.stop_argv = argv + i + 1;
      break;
    }
    if (strcmp(flag, "--attached") == 0) {
      cfg.attached = 1;
      continue;
    }
    if (strcmp(flag, "--clean-up-after-end") == 0) {
      cfg.clean_up_after_end = 1;
      continue;
    }
    if (i + 1 >= argc) refuse(EXIT_USAGE, "a value is missing after ", flag);
    const char *value = argv[++i];
    if (strcmp(flag, "--log") == 0) cfg.log_path = value;
    else if (strcmp(flag, "--owner-json") == 0) cfg.owner_json = value;
    else if (strcmp(flag, "--exit-json") == 0) cfg.exit_json = value;
    else if (strcmp(flag, "--live") == 0) cfg.live = value;
    else if (strcmp(flag, "--changed") == 0) cfg.changed = value;
    else if (strcmp(flag, "--deadline-epoch-ms") == 0) cfg.deadline_epoch_ms = parse_number(value);
    else if (strcmp(flag, "--socket") == 0) cfg.socket_path = value;
    else if (strcmp(flag, "--listen-fd") == 0) cfg.listen_fd = (int)parse_number(value);
    else if (strcmp(flag, "--ready-fd") == 0) cfg.ready_fd = (int)parse_number(value);
    else if (strcmp(flag, "--child") == 0) cfg.child = (pid_t)parse_number(value);
    else if (strcmp(flag, "--child-name") == 0) cfg.child_name = value;
    else if (strcmp(flag, "--keep-fd") == 0) add_fd(cfg.keep, &cfg.keep_count, flag, value);
    else if (strcmp(flag, "--console-fd") == 0) {
      if (cfg.console_count >= MAX_FDS) refuse(EXIT_USAGE, "too many of ", flag);
      cfg.console[cfg.console_count++].fd = (int)parse_number(value);
    } else if (strcmp(flag, "--drain-fd") == 0) add_fd(cfg.drain, &cfg.drain_count, flag, value);
    else if (strcmp(flag, "--watch-pid") == 0) cfg.watch_pid = (pid_t)parse_number(value);
    else if (strcmp(flag, "--watch-reason") == 0) cfg.watch_reason = value;
    else if (strcmp(flag, "--follow") == 0) cfg.follow_path = value;
    else if (strcmp(flag, "--follow-offset") == 0) cfg.follow_offset = (off_t)parse_number(value);
    else if (strcmp(flag, "--stop-timeout-ms") == 0) cfg.stop_timeout_ms = (long)parse_number(value);
    else if (strcmp(flag, "--force-wait-ms") == 0) cfg.force_wait_ms = (long)parse_number(value);
    else if (strcmp(flag, "--git-watch") == 0) {
      if (cfg.git_watch_count >= MAX_GIT_WATCHES) refuse(EXIT_USAGE, "too many of ", flag);
      cfg.git_watch[cfg.git_watch_count++] = value;
    } else if (strcmp(flag, "--git-sync-arg") == 0) {
      if (cfg.git_sync_argv_count >= MAX_GIT_SYNC_ARGS) refuse(EXIT_USAGE, "too many of ", flag);
      cfg.git_sync_argv[cfg.git_sync_argv_count++] = (char *)value;
    } else if (strcmp(flag, "--git-sync-interval-ms") == 0) cfg.git_sync_interval_ms = (long)parse_number(value);
    else refuse(EXIT_USAGE, "unknown option ", flag);
  }
  if (!cfg.log_path || !cfg.owner_json || !cfg.exit_json || !cfg.live || !cfg.changed || !cfg.socket_path || cfg.listen_fd < 0 || cfg.child <= 0 ||
      !cfg.child_name || cfg.stop_timeout_ms < 0 || cfg.force_wait_ms < 0 || (cfg.watch_pid > 0 && !cfg.watch_reason) ||
      !cfg.stop_argv || !cfg.stop_argv[0] || (cfg.git_sync_argv_count > 0 && cfg.git_sync_interval_ms <= 0))
    refuse(EXIT_USAGE, "missing a required option (see src/owner/monitor-argv.ts)", "");
}
