/* The monitor's loop: signals, owner.sock, the machine's pipes and its end, one poll() for all.
 * See monitor.h for what the monitor is and does. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What each polled descriptor is. */
enum fd_kind {
  FD_SIGNAL,         /* the signalfd: SIGCHLD, and the signals that mean stop */
  FD_LISTEN,         /* owner.sock: a connection to accept */
  FD_CLIENT,         /* a connection's requests (index: its slot in clients) */
  FD_CONSOLE,        /* the machine's console (index: its slot in cfg.console) */
  FD_DRAIN,          /* a pipe read and discarded (index: its slot in cfg.drain) */
  FD_ATTACHED_STDIN, /* the attached heyvm command's pipe: its end is a stop */
  FD_WATCH_PIDFD,    /* the watched process (a pidfd): readable once it has ended */
  FD_GIT_INOTIFY,    /* a watched git ref or .git entry changed (git-sync.c) */
};

#define MAX_POLLED (5 + 2 * MAX_FDS + MAX_CLIENTS)

struct polled {
  struct pollfd fds[MAX_POLLED];
  enum fd_kind kinds[MAX_POLLED];
  int index[MAX_POLLED];
  int count;
};

static void watch(struct polled *polled, int fd, enum fd_kind kind, int index) {
  polled->fds[polled->count] = (struct pollfd){.fd = fd, .events = POLLIN};
  polled->kinds[polled->count] = kind;
  polled->index[polled->count] = index;
  polled->count++;
}

/* Signals arrive as reads on a signalfd, so the loop has one place to handle them. */
static int open_signal_fd(void) {
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGHUP);
  sigprocmask(SIG_BLOCK, &handled, NULL);
  signal(SIGPIPE, SIG_IGN);
  return signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* The handed-over descriptors are the monitor's own: its children must not inherit them. */
static void take_descriptors(void) {
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
}

/* The heyvm command waiting for this sandbox learns it is ready only now, after the hand-over. */
static void tell_starter(void) {
  if (cfg.ready_fd < 0) return;
  int machine_up = state == RUNNING && child_alive() && (cfg.watch_pid <= 0 || watch_alive());
  const char *message = machine_up ? "ready\n" : "failed: the machine ended while the owner handed over\n";
  write_all(cfg.ready_fd, message, strlen(message));
  close(cfg.ready_fd);
}

/* A machine that ended on its own while running ends the owner. */
static void check_machine(void) {
  if (state != RUNNING) return;
  char reason[256], full[300];
  if (!child_alive()) {
    describe_child_end(reason, sizeof reason);
    snprintf(full, sizeof full, "machine ended on its own: %s", reason);
  } else if (cfg.watch_pid > 0 && !watch_alive()) {
    snprintf(full, sizeof full, "machine ended on its own: %s", cfg.watch_reason);
  } else {
    return;
  }
  log_owner("%s", full);
  if (cfg.clean_up_after_end) start_clean_up(full); /* what the machine left on the host goes now, then finish */
  else finish(full, 1);
}

static void read_signals(int signal_fd) {
  struct signalfd_siginfo info;
  while (read(signal_fd, &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGCHLD) {
      reap_children();
    } else {
      char name[32], reason[64];
      signal_name((int)info.ssi_signo, name, sizeof name);
      snprintf(reason, sizeof reason, "received %s", name);
      start_stop(reason);
    }
  }
}

static void handle(enum fd_kind kind, int fd, int index, int signal_fd) {
  char bytes[16384];
  ssize_t n;
  switch (kind) {
    case FD_SIGNAL:
      read_signals(signal_fd);
      break;
    case FD_LISTEN:
      accept_client();
      break;
    case FD_CLIENT:
      read_client(&clients[index]);
      break;
    case FD_CONSOLE:
      n = read(fd, bytes, sizeof bytes);
      if (n > 0) {
        take_console(&cfg.console[index], bytes, (size_t)n);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        flush_console(&cfg.console[index]);
        close(fd);
        cfg.console[index].fd = -1;
      }
      break;
    case FD_DRAIN:
      n = read(fd, bytes, sizeof bytes);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(fd);
        cfg.drain[index] = -1;
      }
      break;
    case FD_ATTACHED_STDIN:
      n = read(0, bytes, sizeof bytes);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        if (n < 0) log_owner("reading the attached command's pipe failed: %s", strerror(errno));
        cfg.attached = 0;
        start_stop("the attached heyvm command went away");
      }
      break;
    case FD_WATCH_PIDFD:
      watch_done = 1;
      break;
    case FD_GIT_INOTIFY:
      git_sync_read();
      break;
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  log_open();
  control_init();
  int signal_fd = open_signal_fd();
  take_descriptors();

  log_owner("owner now runs as a small native monitor (pid %d, same process)", (int)getpid());
  reap_children(); /* the child may have ended during the hand-over */
  follow_file();
  tell_starter();
  git_sync_init();

  for (;;) {
    check_machine();
    if (state == RUNNING && cfg.deadline_epoch_ms > 0 && epoch_ms() >= cfg.deadline_epoch_ms) start_stop("its TTL ran out");
    advance_stop();

    struct polled polled = {.count = 0};
    watch(&polled, signal_fd, FD_SIGNAL, 0);
    watch(&polled, cfg.listen_fd, FD_LISTEN, 0);
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (clients[i].fd >= 0) watch(&polled, clients[i].fd, FD_CLIENT, i);
    for (int i = 0; i < cfg.console_count; i++)
      if (cfg.console[i].fd >= 0) watch(&polled, cfg.console[i].fd, FD_CONSOLE, i);
    for (int i = 0; i < cfg.drain_count; i++)
      if (cfg.drain[i] >= 0) watch(&polled, cfg.drain[i], FD_DRAIN, i);
    if (cfg.attached) watch(&polled, 0, FD_ATTACHED_STDIN, 0);
    if (cfg.watch_fd >= 0 && !watch_done) watch(&polled, cfg.watch_fd, FD_WATCH_PIDFD, 0);
    if (git_sync_fd() >= 0) watch(&polled, git_sync_fd(), FD_GIT_INOTIFY, 0);

    int timeout = -1;
    if (cfg.follow_path || (cfg.watch_pid > 0 && cfg.watch_fd < 0)) timeout = 200; /* nothing to wake on: look again */
    if (state == STOPPING) timeout = 100;
    if (state == RUNNING && cfg.deadline_epoch_ms > 0) {
      long long left = cfg.deadline_epoch_ms - epoch_ms();
      if (left < 0) left = 0;
      if (timeout < 0 || left < timeout) timeout = left > 60000 ? 60000 : (int)left;
    }
    timeout = git_sync_tick(timeout);
    int ready = poll(polled.fds, (nfds_t)polled.count, timeout);
    if (ready < 0 && errno != EINTR) {
      log_owner("poll failed: %s", strerror(errno));
      start_stop("the owner monitor failed");
    }
    follow_file();
    for (int k = 0; ready > 0 && k < polled.count; k++)
      if (polled.fds[k].revents) handle(polled.kinds[k], polled.fds[k].fd, polled.index[k], signal_fd);
  }
}
