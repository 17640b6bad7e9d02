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
 * command (backend logic stays in TypeScript), ends the machine by force after a bound, records
 * why it ended (exit.json) and removes owner.json, the live marker and the socket.
 *
 * Usage (argv[0..2] keep `heyvm __sandbox_owner <id>` visible in ps):
 *   heyvm __sandbox_owner <id> --monitor --log F --owner-json F --exit-json F --live F --socket F
 *     --listen-fd N [--ready-fd N] --child PID --child-name NAME [--keep-fd N]... [--console-fd N]...
 *     [--drain-fd N]... [--watch-pid PID --watch-reason TEXT] [--follow PATH --follow-offset N]
 *     [--attached] [--stop-timeout-ms N] -- STOP-COMMAND [ARGS...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 8
#define MAX_CLIENTS 32
#define REQUEST_MAX_BYTES 4096
#define FORCE_WAIT_MS 10000
#define LINE_MAX_BYTES 8192

enum { RUNNING, STOPPING };

struct line_buffer {
  int fd;
  char text[LINE_MAX_BYTES];
  size_t used;
};

struct client {
  int fd;
  long long since; /* when it connected: the oldest one makes room when all slots are taken */
  char text[REQUEST_MAX_BYTES];
  size_t used;
};

static struct {
  const char *id, *log_path, *owner_json, *exit_json, *live, *socket_path, *child_name;
  const char *watch_reason, *follow_path;
  int listen_fd, ready_fd, attached;
  pid_t child;
  int keep[MAX_FDS], keep_count;
  struct line_buffer console[MAX_FDS];
  int console_count;
  int drain[MAX_FDS], drain_count;
  pid_t watch_pid;
  int watch_fd; /* pidfd of watch_pid, or -1 (then it is polled) */
  off_t follow_offset;
  struct line_buffer follow;
  long stop_timeout_ms;
  char **stop_argv;
} cfg;

static int log_fd = -1;
static int stop_driver_killed;
static int state = RUNNING;
static int child_done, watch_done;
static int child_status;
static pid_t stop_driver = -1;
static long long stop_deadline, force_deadline;
static char stop_reason[512];
static struct client clients[MAX_CLIENTS];

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso_time(char *out, size_t size) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* "SIGTERM" and the like (sigabbrev_np is too new for older C libraries). */
static void signal_name(int number, char *out, size_t size) {
  static const struct { int number; const char *name; } names[] = {
      {SIGHUP, "SIGHUP"}, {SIGINT, "SIGINT"}, {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"}, {SIGABRT, "SIGABRT"},
      {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"}, {SIGKILL, "SIGKILL"}, {SIGSEGV, "SIGSEGV"}, {SIGPIPE, "SIGPIPE"},
      {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGSYS, "SIGSYS"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (names[i].number == number) {
      snprintf(out, size, "%s", names[i].name);
      return;
    }
  }
  snprintf(out, size, "signal %d", number);
}

static void write_all(int fd, const char *text, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, text, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    length -= (size_t)n;
  }
}

/* One owner.log line, in the format the Node owner writes: "<ISO time> <source>: <text>". */
static void log_line(const char *source, const char *text, size_t length) {
  char stamp[40], head[64];
  iso_time(stamp, sizeof stamp);
  int n = snprintf(head, sizeof head, "%s %s: ", stamp, source);
  char line[LINE_MAX_BYTES + 128];
  if (length > LINE_MAX_BYTES) length = LINE_MAX_BYTES;
  memcpy(line, head, (size_t)n);
  size_t used = (size_t)n;
  for (size_t i = 0; i < length; i++) {
    if (text[i] == '\n') line[used++] = ' '; /* one log line per call: a reason cannot forge others */
    else if (text[i] != '\r') line[used++] = text[i];
  }
  line[used++] = '\n';
  write_all(log_fd, line, used);
}

static void log_owner(const char *format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (n < 0) return;
  log_line("owner", text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* Appends bytes to a line buffer and logs each complete line as machine console output. */
static void take_console(struct line_buffer *buffer, const char *bytes, size_t length) {
  for (size_t i = 0; i < length; i++) {
    if (bytes[i] == '\n' || buffer->used == sizeof buffer->text) {
      log_line("console", buffer->text, buffer->used);
      buffer->used = 0;
      if (bytes[i] == '\n') continue;
    }
    buffer->text[buffer->used++] = bytes[i];
  }
}

static void flush_console(struct line_buffer *buffer) {
  if (buffer->used > 0) log_line("console", buffer->text, buffer->used);
  buffer->used = 0;
}

/* Copies JSON-escaped text into out (size > 8); stops early rather than overflow. */
static void json_escape(char *out, size_t size, const char *text) {
  size_t used = 0;
  for (; *text && used + 8 < size; text++) {
    unsigned char c = (unsigned char)*text;
    if (c == '"' || c == '\\') {
      out[used++] = '\\';
      out[used++] = (char)c;
    } else if (c == '\n') {
      out[used++] = '\\';
      out[used++] = 'n';
    } else if (c < 0x20) {
      used += (size_t)snprintf(out + used, size - used, "\\u%04x", c);
    } else {
      out[used++] = (char)c;
    }
  }
  out[used] = '\0';
}

/* Writes a file whole through a temporary name, as state/records.ts does. */
static void write_file_atomically(const char *path, const char *text) {
  char temp[4096];
  snprintf(temp, sizeof temp, "%s.%d.tmp", path, (int)getpid());
  int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, text, strlen(text));
  close(fd);
  rename(temp, path);
}

static int child_alive(void) { return !child_done; }

static int watch_alive(void) {
  if (cfg.watch_pid <= 0 || watch_done) return 0;
  if (cfg.watch_fd < 0 && kill(cfg.watch_pid, 0) != 0 && errno == ESRCH) watch_done = 1;
  return !watch_done;
}

static void describe_child_end(char *out, size_t size) {
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
static void finish(const char *reason, int code) {
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
  unlink(cfg.owner_json);
  unlink(cfg.live);
  unlink(cfg.socket_path);
  exit(code);
}

static void start_stop(const char *reason) {
  if (state == STOPPING) return;
  state = STOPPING;
  snprintf(stop_reason, sizeof stop_reason, "%s", reason);
  log_owner("stopping: %s", reason);
  stop_deadline = now_ms() + cfg.stop_timeout_ms;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0); /* its own group, so that ending it at the deadline ends what it started too */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execvp(cfg.stop_argv[0], cfg.stop_argv);
    _exit(127);
  }
  if (pid > 0) setpgid(pid, pid); /* as in the child: whichever runs first */
  if (pid < 0) {
    log_owner("could not run the stop command (%s); ending the machine by force", strerror(errno));
    stop_deadline = now_ms();
  }
  stop_driver = pid;
}

/* After the stop command (or its deadline): force what is still running, then finish. */
static void advance_stop(void) {
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
      force_deadline = now + FORCE_WAIT_MS;
    }
    return;
  }
  if (watch_alive()) {
    if (force_deadline == 0) force_deadline = now + FORCE_WAIT_MS;
    if (now < force_deadline) return;
    log_owner("%s (pid %d) is still running after its parent ended", cfg.watch_reason, (int)cfg.watch_pid);
  }
  finish(stop_reason, 0);
}

static void reap_children(void) {
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
    } else if (pid == stop_driver) {
      stop_driver = -1;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) log_owner("the stop command failed; ending the machine by force");
    }
  }
}

static void answer(struct client *client, const char *text) { write_all(client->fd, text, strlen(text)); }

/* Reads a JSON string value for key in a one-line request; unescapes \" \\ \n only. */
static int json_string(const char *line, const char *key, char *out, size_t size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\"", key);
  const char *at = strstr(line, pattern);
  if (!at) return 0;
  at += strlen(pattern);
  while (*at == ' ' || *at == '\t') at++;
  if (*at++ != ':') return 0;
  while (*at == ' ' || *at == '\t') at++;
  if (*at++ != '"') return 0;
  size_t used = 0;
  for (; *at && *at != '"'; at++) {
    char c = *at;
    if (c == '\\' && at[1]) {
      at++;
      c = *at == 'n' ? '\n' : *at == 't' ? '\t' : *at == 'r' ? '\r' : *at == 'b' || *at == 'f' ? ' ' : *at;
      if (*at == 'u') { /* \uXXXX: kept as '?' (reasons are for people to read) */
        for (int i = 0; i < 4 && at[1]; i++) at++;
        c = '?';
      }
    }
    if (used + 1 < size) out[used++] = c; /* a long value is cut, not refused */
  }
  out[used] = '\0';
  return *at == '"';
}

static void handle_request(struct client *client, const char *line) {
  char op[32], reason[1000];
  if (!json_string(line, "op", op, sizeof op)) {
    answer(client, "{\"ok\":false,\"error\":\"malformed request\"}\n");
  } else if (strcmp(op, "status") == 0) {
    char text[256];
    snprintf(text, sizeof text, "{\"ok\":true,\"id\":\"%s\",\"pid\":%d,\"state\":\"%s\"}\n", cfg.id, (int)getpid(),
             state == RUNNING ? "running" : "stopping");
    answer(client, text);
  } else if (strcmp(op, "stop") == 0) {
    answer(client, "{\"ok\":true}\n");
    if (!json_string(line, "reason", reason, sizeof reason)) snprintf(reason, sizeof reason, "stop requested");
    start_stop(reason);
  } else {
    answer(client, "{\"ok\":false,\"error\":\"malformed request\"}\n");
  }
}

static void close_client(struct client *client) {
  close(client->fd);
  client->fd = -1;
  client->used = 0;
}

static void read_client(struct client *client) {
  ssize_t n = read(client->fd, client->text + client->used, sizeof client->text - 1 - client->used);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_client(client);
    return;
  }
  client->used += (size_t)n;
  client->text[client->used] = '\0';
  char *newline;
  while (client->fd >= 0 && (newline = strchr(client->text, '\n')) != NULL) {
    *newline = '\0';
    handle_request(client, client->text);
    size_t rest = client->used - (size_t)(newline + 1 - client->text);
    memmove(client->text, newline + 1, rest);
    client->used = rest;
    client->text[rest] = '\0';
  }
  if (client->fd >= 0 && client->used == sizeof client->text - 1) {
    answer(client, "{\"ok\":false,\"error\":\"malformed request\"}\n");
    close_client(client);
  }
}

static void accept_client(void) {
  int fd = accept4(cfg.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) usleep(100000); /* EMFILE…: do not spin */
    return;
  }
  int slot = 0;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd < 0) {
      slot = i;
      break;
    }
    if (clients[i].since < clients[slot].since) slot = i;
  }
  if (clients[slot].fd >= 0) close_client(&clients[slot]); /* all taken: the oldest (idle) one goes */
  clients[slot].fd = fd;
  clients[slot].since = now_ms();
  clients[slot].used = 0;
}

static void follow_file(void) {
  if (!cfg.follow_path) return;
  int fd = open(cfg.follow_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char bytes[16384];
  ssize_t n;
  while ((n = pread(fd, bytes, sizeof bytes, cfg.follow_offset)) > 0) {
    take_console(&cfg.follow, bytes, (size_t)n);
    cfg.follow_offset += n;
  }
  close(fd);
}

static int parse_int(const char *text) {
  char *end;
  long value = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0') {
    fprintf(stderr, "heyvm owner monitor: not a number: %s\n", text);
    exit(2);
  }
  return (int)value;
}

static void parse_args(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[3], "--monitor") != 0) {
    fprintf(stderr, "heyvm owner monitor: started without --monitor; it is run by `heyvm __sandbox_owner`\n");
    exit(2);
  }
  cfg.id = argv[2];
  cfg.listen_fd = cfg.child = cfg.ready_fd = -1;
  cfg.watch_fd = -1;
  cfg.stop_timeout_ms = 35000;
  cfg.child_name = "the machine";
  cfg.watch_reason = "the machine ended";
  for (int i = 4; i < argc; i++) {
    const char *flag = argv[i];
    if (strcmp(flag, "--") == 0) {
      cfg.stop_argv = argv + i + 1;
      break;
    }
    if (strcmp(flag, "--attached") == 0) {
      cfg.attached = 1;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "heyvm owner monitor: %s needs a value\n", flag);
      exit(2);
    }
    const char *value = argv[++i];
    if (strcmp(flag, "--log") == 0) cfg.log_path = value;
    else if (strcmp(flag, "--owner-json") == 0) cfg.owner_json = value;
    else if (strcmp(flag, "--exit-json") == 0) cfg.exit_json = value;
    else if (strcmp(flag, "--live") == 0) cfg.live = value;
    else if (strcmp(flag, "--socket") == 0) cfg.socket_path = value;
    else if (strcmp(flag, "--listen-fd") == 0) cfg.listen_fd = parse_int(value);
    else if (strcmp(flag, "--ready-fd") == 0) cfg.ready_fd = parse_int(value);
    else if (strcmp(flag, "--child") == 0) cfg.child = parse_int(value);
    else if (strcmp(flag, "--child-name") == 0) cfg.child_name = value;
    else if (strcmp(flag, "--keep-fd") == 0 && cfg.keep_count < MAX_FDS) cfg.keep[cfg.keep_count++] = parse_int(value);
    else if (strcmp(flag, "--console-fd") == 0 && cfg.console_count < MAX_FDS) cfg.console[cfg.console_count++].fd = parse_int(value);
    else if (strcmp(flag, "--drain-fd") == 0 && cfg.drain_count < MAX_FDS) cfg.drain[cfg.drain_count++] = parse_int(value);
    else if (strcmp(flag, "--watch-pid") == 0) cfg.watch_pid = parse_int(value);
    else if (strcmp(flag, "--watch-reason") == 0) cfg.watch_reason = value;
    else if (strcmp(flag, "--follow") == 0) cfg.follow_path = value;
    else if (strcmp(flag, "--follow-offset") == 0) cfg.follow_offset = (off_t)strtoll(value, NULL, 10);
    else if (strcmp(flag, "--stop-timeout-ms") == 0) cfg.stop_timeout_ms = parse_int(value);
    else {
      fprintf(stderr, "heyvm owner monitor: unknown option %s\n", flag);
      exit(2);
    }
  }
  if (!cfg.log_path || !cfg.owner_json || !cfg.exit_json || !cfg.live || !cfg.socket_path || cfg.listen_fd < 0 || cfg.child <= 0 ||
      !cfg.stop_argv || !cfg.stop_argv[0]) {
    fprintf(stderr, "heyvm owner monitor: missing a required option\n");
    exit(2);
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  log_fd = open(cfg.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) log_fd = 2;
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;

  /* Signals arrive as reads on a signalfd, so the loop below has one place to handle them. */
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGHUP);
  sigprocmask(SIG_BLOCK, &handled, NULL);
  signal(SIGPIPE, SIG_IGN);
  int signal_fd = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  fcntl(cfg.listen_fd, F_SETFD, FD_CLOEXEC);
  fcntl(cfg.listen_fd, F_SETFL, fcntl(cfg.listen_fd, F_GETFL) | O_NONBLOCK);
  for (int i = 0; i < cfg.keep_count; i++) fcntl(cfg.keep[i], F_SETFD, FD_CLOEXEC);
  for (int i = 0; i < cfg.console_count; i++) fcntl(cfg.console[i].fd, F_SETFD, FD_CLOEXEC);
  for (int i = 0; i < cfg.drain_count; i++) fcntl(cfg.drain[i], F_SETFD, FD_CLOEXEC);
#ifdef SYS_pidfd_open
  if (cfg.watch_pid > 0) cfg.watch_fd = (int)syscall(SYS_pidfd_open, cfg.watch_pid, 0);
#endif
  /* EPERM means alive (QEMU runs as another user under qemu:///system); only ESRCH means gone */
  if (cfg.watch_pid > 0 && cfg.watch_fd < 0 && kill(cfg.watch_pid, 0) != 0 && errno == ESRCH) watch_done = 1;

  log_owner("owner now runs as a small native monitor (pid %d, same process)", (int)getpid());
  reap_children(); /* the child may have ended during the hand-over */
  follow_file();
  if (cfg.ready_fd >= 0) {
    /* the heyvm command waiting for this sandbox learns it is ready only now, after the hand-over */
    int machine_up = state == RUNNING && child_alive() && (cfg.watch_pid <= 0 || watch_alive());
    const char *message = machine_up ? "ready\n" : "failed: the machine ended while the owner handed over\n";
    write_all(cfg.ready_fd, message, strlen(message));
    close(cfg.ready_fd);
  }

  for (;;) {
    if (state == RUNNING) {
      if (!child_alive()) {
        char reason[256], full[300];
        describe_child_end(reason, sizeof reason);
        snprintf(full, sizeof full, "machine ended on its own: %s", reason);
        log_owner("%s", full);
        finish(full, 1);
      }
      if (cfg.watch_pid > 0 && !watch_alive()) {
        char full[300];
        snprintf(full, sizeof full, "machine ended on its own: %s", cfg.watch_reason);
        log_owner("%s", full);
        finish(full, 1);
      }
    }
    advance_stop();

    struct pollfd fds[4 + 2 * MAX_FDS + MAX_CLIENTS];
    int kinds[4 + 2 * MAX_FDS + MAX_CLIENTS]; /* 0 signal, 1 listen, 2 client, 3 console, 4 drain, 5 stdin, 6 pidfd */
    int index[4 + 2 * MAX_FDS + MAX_CLIENTS];
    int count = 0;
#define WATCH(fd_, kind_, index_) (fds[count].fd = (fd_), fds[count].events = POLLIN, kinds[count] = (kind_), index[count] = (index_), count++)
    WATCH(signal_fd, 0, 0);
    WATCH(cfg.listen_fd, 1, 0);
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (clients[i].fd >= 0) WATCH(clients[i].fd, 2, i);
    for (int i = 0; i < cfg.console_count; i++)
      if (cfg.console[i].fd >= 0) WATCH(cfg.console[i].fd, 3, i);
    for (int i = 0; i < cfg.drain_count; i++)
      if (cfg.drain[i] >= 0) WATCH(cfg.drain[i], 4, i);
    if (cfg.attached) WATCH(0, 5, 0);
    if (cfg.watch_fd >= 0 && !watch_done) WATCH(cfg.watch_fd, 6, 0);
#undef WATCH
    int timeout = -1;
    if (cfg.follow_path || (cfg.watch_pid > 0 && cfg.watch_fd < 0)) timeout = 200;
    if (state == STOPPING) timeout = 100;
    int ready = poll(fds, (nfds_t)count, timeout);
    if (ready < 0 && errno != EINTR) {
      log_owner("poll failed: %s", strerror(errno));
      start_stop("the owner monitor failed");
    }
    follow_file();
    for (int k = 0; ready > 0 && k < count; k++) {
      if (!fds[k].revents) continue;
      char bytes[16384];
      ssize_t n;
      switch (kinds[k]) {
        case 0: {
          struct signalfd_siginfo info;
          while (read(signal_fd, &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGCHLD) reap_children();
            else {
              char name[32], reason[64];
              signal_name((int)info.ssi_signo, name, sizeof name);
              snprintf(reason, sizeof reason, "received %s", name);
              start_stop(reason);
            }
          }
          break;
        }
        case 1:
          accept_client();
          break;
        case 2:
          read_client(&clients[index[k]]);
          break;
        case 3:
          n = read(fds[k].fd, bytes, sizeof bytes);
          if (n > 0) take_console(&cfg.console[index[k]], bytes, (size_t)n);
          else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            flush_console(&cfg.console[index[k]]);
            close(fds[k].fd);
            cfg.console[index[k]].fd = -1;
          }
          break;
        case 4:
          n = read(fds[k].fd, bytes, sizeof bytes);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            close(fds[k].fd);
            cfg.drain[index[k]] = -1;
          }
          break;
        case 5:
          n = read(0, bytes, sizeof bytes);
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (n < 0) log_owner("reading the attached command's pipe failed: %s", strerror(errno));
            cfg.attached = 0;
            start_stop("the attached heyvm command went away");
          }
          break;
        case 6:
          watch_done = 1;
          break;
      }
    }
  }
}
