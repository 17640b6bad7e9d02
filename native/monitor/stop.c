/* The machine's end and stopping it: reaping the child, running the stop command within its
 * bound, ending what is left by force, and the finish (exit.json, the records removed). */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum run_state state = RUNNING;
int watch_done;
static int child_done;
static int child_status;
static pid_t stop_driver = -1;
static int stop_driver_killed;
static long long stop_deadline, force_deadline;
static char stop_reason[512];
static int finish_code; /* 0 after a stop; 1 after the clean-up of a machine that ended on its own */

int child_alive(void) { return !child_done; }

int watch_alive(void) {
  if (cfg.watch_pid <= 0 || watch_done) return 0;
  if (cfg.watch_fd < 0 && kill(cfg.watch_pid, 0) != 0 && errno == ESRCH) watch_done = 1;
  return !watch_done;
}

void describe_child_end(char *out, size_t size) {
  if (child_status == -1) {
    snprintf(out, size, "%s ended", cfg.child_name); /* reaped before the hand-over: status unknown */
  } else if (WIFSIGNALED(child_status)) {
    char name[32];
    signal_name(WTERMSIG(child_status), name, sizeof name);
    snprintf(out, size, "%s was ended by %s", cfg.child_name, name);
  } else {
    snprintf(out, size, "%s exited with code %d", cfg.child_name, WEXITSTATUS(child_status));
  }
}

/* The end: record why, remove what says the sandbox is running, and exit. */
void finish(const char *reason, int code) {
  for (int i = 0; i < cfg.console_count; i++) flush_console(&cfg.console[i]);
  if (cfg.follow_path) flush_console(&cfg.follow);
  if (child_alive()) {
    kill(cfg.child, SIGKILL);
    waitpid(cfg.child, NULL, 0);
  }
  log_owner("exiting: %s", reason);
  char at[40], escaped[1200], json[1400];
  iso_time(at, sizeof at);
  json_escape(escaped, sizeof escaped, reason);
  snprintf(json, sizeof json, "{\n  \"at\": \"%s\",\n  \"reason\": \"%s\"\n}\n", at, escaped);
  write_file_atomically(cfg.exit_json, json);
  touch_file(cfg.changed); /* after exit.json: the catalog index reads the new reason */
  unlink(cfg.owner_json);
  unlink(cfg.live);
  unlink(cfg.socket_path);
  exit(code);
}

/* The stop command, with --ended appended after a machine that ended on its own. */
static void run_stop_command(const char *reason, int ended) {
  state = STOPPING;
  snprintf(stop_reason, sizeof stop_reason, "%s", reason);
  finish_code = ended ? 1 : 0;
  stop_deadline = now_ms() + cfg.stop_timeout_ms;
  int count = 0;
  while (cfg.stop_argv[count]) count++;
  char **argv = calloc((size_t)count + 3, sizeof *argv);
  if (!argv) {
    log_owner("could not run the stop command (out of memory); ending the machine by force");
    stop_deadline = now_ms();
    stop_driver = -1;
    return;
  }
  for (int i = 0; i < count; i++) argv[i] = cfg.stop_argv[i];
  if (ended) argv[count++] = "--ended";
  if (git_sync_unchanged()) argv[count++] = "--git-synced"; /* its last git sync would find nothing to carry */
  pid_t pid = fork();
  if (pid == 0) exec_heyvm_command(argv); /* its own group: ending it at the deadline ends what it started too */
  int fork_errno = errno;
  free(argv);
  if (pid > 0) setpgid(pid, pid); /* as in the child: whichever runs first */
  if (pid < 0) {
    log_owner("could not run the stop command (%s); ending the machine by force", strerror(fork_errno));
    stop_deadline = now_ms();
  }
  stop_driver = pid;
}

void exec_heyvm_command(char **argv) {
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  /* output to owner.log first: log_fd may be 0 (the monitor's stdio was closed), which /dev/null then replaces */
  dup2(log_fd, 1);
  dup2(log_fd, 2);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) dup2(null_fd, 0);
  execvp(argv[0], argv);
  _exit(127);
}

void start_stop(const char *reason) {
  if (state == STOPPING) return;
  log_owner("stopping: %s", reason);
  run_stop_command(reason, 0);
}

void start_clean_up(const char *reason) {
  if (state == STOPPING) return;
  log_owner("cleaning up after the machine");
  run_stop_command(reason, 1);
}

/* After the stop command (or its deadline): force what is still running, then finish. */
void advance_stop(void) {
  if (state != STOPPING) return;
  long long now = now_ms();
  if (stop_driver > 0) {
    if (now < stop_deadline || stop_driver_killed) return;
    log_owner("the stop command did not finish within %ld s; ending it", cfg.stop_timeout_ms / 1000);
    kill(-stop_driver, SIGKILL);
    stop_driver_killed = 1;
    return; /* reaped through SIGCHLD */
  }
  if (child_alive()) {
    if (force_deadline == 0) {
      kill(cfg.child, SIGKILL);
      force_deadline = now + cfg.force_wait_ms;
    }
    return;
  }
  if (watch_alive()) {
    if (force_deadline == 0) force_deadline = now + cfg.force_wait_ms;
    if (now < force_deadline) return;
    log_owner("%s (pid %d) is still running after its parent ended", cfg.watch_reason, (int)cfg.watch_pid);
  }
  finish(stop_reason, finish_code);
}

void reap_children(void) {
  int status;
  pid_t pid;
  if (!child_done) {
    pid = waitpid(cfg.child, &status, WNOHANG);
    if (pid == cfg.child) {
      child_done = 1;
      child_status = status;
    } else if (pid < 0 && errno == ECHILD) {
      child_done = 1; /* not (or no longer) our child: it ended before the hand-over */
      child_status = -1;
    }
  }
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == cfg.child) {
      child_done = 1;
      child_status = status;
    } else if (git_sync_reaped(pid, status)) {
      /* its own lines are in owner.log */
    } else if (pid == stop_driver) {
      stop_driver = -1;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) log_owner("the stop command failed; ending the machine by force");
    }
  }
}
