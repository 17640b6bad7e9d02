/*
 * heyvm's owner monitor: the idle phase of a sandbox's owner process.
 *
 * The owner (`heyvm __sandbox_owner <id>`, Node) boots the machine through its backend. Once the
 * sandbox is ready it execve()s into this program, keeping its pid, its children and the file
 * descriptors it hands over. An idle Node process costs about 40 MB of resident memory; this
 * costs well under 1 MB, which matters when one machine runs dozens of sandboxes.
 *
 * Like podman's conmon, it only supervises: it stays the machine's parent (bwrap's
 * --die-with-parent, virsh's --autodestroy), copies the machine's console into owner.log with
 * timestamps, answers status and stop on owner.sock, and on a stop request runs heyvm's own stop
 * command (backend logic stays in TypeScript), ends the machine by force after a bound (and, when
 * asked, runs that command with --ended after a machine that ended on its own), records
 * why it ended (exit.json) and removes owner.json, the live marker and the socket.
 *
 * Usage (argv[0..3] keep `heyvm __sandbox_owner <id> --monitor` visible in ps):
 *   heyvm __sandbox_owner <id> --monitor --api-version N [OPTION VALUE]... -- STOP-COMMAND [ARGS...]
 *   heyvm-owner-monitor --api-version          prints the API version it speaks and exits
 * The options, what they mean and which are required are documented in one table,
 * src/owner/monitor-argv.ts, which builds this argv; args.c parses the same names.
 *
 * The files: log.c (owner.log, the console, files written whole), control.c (owner.sock),
 * git-sync.c (running `heyvm __git_sync` when a branch moves), stop.c (the machine's end, stopping it, finishing), args.c (the command line), main.c (the
 * loop). Include this header first: it sets _GNU_SOURCE.
 */
#ifndef HEYVM_MONITOR_H
#define HEYVM_MONITOR_H

#define _GNU_SOURCE
#include <stddef.h>
#include <sys/types.h>

/* The contract with the Node owner (MONITOR_API_VERSION, EXIT_WRONG_API_VERSION, EXIT_USAGE,
 * REQUEST_MAX_BYTES, DEFAULT_STOP_REASON): generated from the TypeScript by scripts/native-constants.mjs. */
#include "constants.h"

#define MAX_FDS 8
#define MAX_CLIENTS 32
#define MAX_GIT_WATCHES 8
#define MAX_GIT_SYNC_ARGS 16
#define LINE_MAX_BYTES 8192

/* Bytes of console output gathered until a line is complete. */
struct line_buffer {
  int fd;
  char text[LINE_MAX_BYTES];
  size_t used;
};

/* One connection to owner.sock. */
struct client {
  int fd;
  long long since; /* when it connected: the oldest one makes room when all slots are taken */
  char text[REQUEST_MAX_BYTES + 1];
  size_t used;
};

/* What the command line says (args.c). */
struct config {
  const char *id, *log_path, *owner_json, *exit_json, *live, *changed, *socket_path, *child_name;
  const char *watch_reason, *follow_path;
  int listen_fd, ready_fd, attached;
  int clean_up_after_end; /* a machine that ends on its own: run the stop command with --ended first */
  pid_t child;
  int keep[MAX_FDS], keep_count;
  struct line_buffer console[MAX_FDS];
  int console_count;
  int drain[MAX_FDS], drain_count;
  pid_t watch_pid;
  int watch_fd; /* pidfd of watch_pid, or -1 (then it is polled) */
  off_t follow_offset;
  struct line_buffer follow;
  long stop_timeout_ms, force_wait_ms;
  long long deadline_epoch_ms; /* the sandbox's TTL runs out then (wall clock); 0 for none */
  char **stop_argv;
  const char *git_watch[MAX_GIT_WATCHES]; /* files whose change runs the git sync (git-sync.c) */
  int git_watch_count;
  char *git_sync_argv[MAX_GIT_SYNC_ARGS + 1]; /* `heyvm __git_sync <id>`, NULL-terminated; empty: no git sync */
  int git_sync_argv_count;
  long git_sync_interval_ms;
};

enum run_state { RUNNING, STOPPING };

extern struct config cfg;          /* args.c */
extern int log_fd;                 /* log.c: owner.log, or stderr if it cannot be opened */
extern enum run_state state;       /* git-sync.c */

/* stop.c */
extern int watch_done;             /* stop.c: the watched process has ended */
extern struct client clients[MAX_CLIENTS]; /* control.c: fd -1 for a free slot */

/* args.c */
void parse_args(int argc, char **argv);

/* log.c */
long long now_ms(void);
void iso_time(char *out, size_t size);
void signal_name(int number, char *out, size_t size);
void write_all(int fd, const char *text, size_t length);
void log_open(void);
void log_line(const char *source, const char *text, size_t length);
void log_owner(const char *format, ...) __attribute__((format(printf, 1, 2)));
void take_console(struct line_buffer *buffer, const char *bytes, size_t length);
void flush_console(struct line_buffer *buffer);
void follow_file(void);
void json_escape(char *out, size_t size, const char *text);
void write_file_atomically(const char *path, const char *text);
void touch_file(const char *path);
long long epoch_ms(void);

/* control.c */
void control_init(void);
void accept_client(void);
void read_client(struct client *client);

/* git-sync.c */
int git_sync_enabled(void);
void git_sync_init(void);
int git_sync_fd(void);
void git_sync_read(void);
int git_sync_tick(int timeout);
int git_sync_reaped(pid_t pid, int status);
/* Nothing the sync reads changed since the last successful run, and none is under way or due. */
int git_sync_unchanged(void);

/* stop.c */
__attribute__((noreturn)) void exec_heyvm_command(char **argv); /* in a forked child: own group, stdin /dev/null, output to owner.log */
int child_alive(void);
int watch_alive(void);
void reap_children(void);
void describe_child_end(char *out, size_t size);
void start_stop(const char *reason);
void start_clean_up(const char *reason);
void advance_stop(void);
__attribute__((noreturn)) void finish(const char *reason, int code);

#endif
