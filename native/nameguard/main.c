/*
 * heyvm-nameguard: keeps git's discovery names out of a sandbox's workspace (issue 18 item 2).
 *
 *   heyvm-nameguard run --workspace PATH -- PROGRAM [ARGS...]
 *     Forks the supervisor, installs the guard filter on itself and execs PROGRAM: PROGRAM and
 *     everything it starts is guarded. (exec/shell's nsenter.)
 *   heyvm-nameguard run --follow-root --workspace PATH -- PROGRAM [ARGS...]
 *     The same, PATH taken in the target's root of the moment at each call: for a daemon that
 *     moves its own root into the share (virtiofsd's pivot_root), not for a hostile program.
 *   heyvm-nameguard boot --workspace PATH --socket-fd N --self-fd M -- PROGRAM [ARGS...]
 *     Forks the supervisor and execs PROGRAM (bwrap) with a socket to it at fd N and this binary
 *     at fd M; bwrap's command is then `/proc/self/fd/M install N M -- COMMAND...`, which
 *     installs the filter inside the sandbox once bwrap has set it up (bwrap itself must mount).
 *   heyvm-nameguard install N M -- PROGRAM [ARGS...]
 *     Takes the filter program from socket N, installs it, hands the listener back, execs PROGRAM.
 *
 * The supervisor stays outside the sandbox (not in its pid namespace: the sandbox cannot signal,
 * trace or even name it), keeps only CAP_SYS_PTRACE of what it holds (to read the target's
 * memory and files through /proc whatever the target's dumpable flag), is not dumpable, and ends
 * when no guarded process is left. If it is gone, every guarded call fails (ENOSYS): fail closed.
 * The binary is linked statically: `install` runs inside any image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nameguard.h"

#define PROGRAM_MAX (BPF_MAXINSNS * sizeof(struct sock_filter))

static void usage(void) {
  fprintf(stderr,
          "usage: heyvm-nameguard run [--follow-root] --workspace PATH -- PROGRAM [ARGS...]\n"
          "       heyvm-nameguard boot --workspace PATH --socket-fd N --self-fd M -- PROGRAM [ARGS...]\n"
          "       heyvm-nameguard install N M -- PROGRAM [ARGS...]\n");
  exit(2);
}

static int number(const char *text) {
  char *end;
  long value = strtol(text, &end, 10);
  if (!*text || *end || value < 3 || value > 1000) usage();
  return (int)value;
}

/* Keeps CAP_SYS_PTRACE (if held) and nothing else; no ambient set; not dumpable. */
static void harden(void) {
  struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) == 0) {
    unsigned keep = 1U << CAP_SYS_PTRACE;
    for (int i = 0; i < 2; i++) {
      unsigned mask = i == 0 ? keep : 0;
      data[i].effective &= mask;
      data[i].permitted &= mask;
      data[i].inheritable = 0;
    }
    syscall(SYS_capset, &header, data);
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* The supervisor's stdio: nothing of the caller's (a pipe it holds would never see its end). */
static void detach_stdio(int keep_stderr) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;
  dup2(null, 0);
  dup2(null, 1);
  if (!keep_stderr) dup2(null, 2);
  if (null > 2) close(null);
}

static void serve(int listener) {
  harden();
  int rc = supervise(listener);
  if (rc < 0) fprintf(stderr, "heyvm-nameguard: supervisor stopped: %s\n", strerror(-rc));
  _exit(rc < 0 ? 1 : 0);
}

static void exec_program(char **argv) {
  execvp(argv[0], argv);
  fprintf(stderr, "heyvm-nameguard: cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* The guard's filter program, a socketpair to the supervisor-to-be and the fork: 0 in the child, its pid in the parent, -1 on failure. */
static pid_t fork_supervisor(struct sock_filter **prog, unsigned short *len, int sv[2]) {
  *prog = guard_program(len);
  if (!*prog || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) close(sv[0]);
  else if (pid > 0) close(sv[1]);
  return pid;
}

/* Installs the filter on this process and hands its listener to the supervisor on SOCK: 0, or the exit code. */
static int install_and_hand_over(struct sock_filter *prog, unsigned short len, int sock) {
  int listener = install_program(prog, len);
  if (listener < 0) {
    fprintf(stderr, "heyvm-nameguard: cannot install the filter: %s\n", strerror(-listener));
    return 126;
  }
  if (send_fd(sock, listener, "L", 1) < 0) {
    /* the supervisor is gone: every guarded call would fail; say so rather than run half-working */
    fprintf(stderr, "heyvm-nameguard: the supervisor is gone\n");
    return 126;
  }
  close(listener);
  return 0;
}

static int mode_run(char **program) {
  struct sock_filter *prog;
  unsigned short len;
  int sv[2];
  pid_t pid = fork_supervisor(&prog, &len, sv);
  if (pid < 0) return 1;
  if (pid == 0) {
    int listener;
    char byte;
    if (recv_fd(sv[1], &listener, &byte, 1) <= 0 || listener < 0) _exit(0);
    close(sv[1]);
    detach_stdio(0);
    setsid();
    serve(listener);
  }
  int rc = install_and_hand_over(prog, len, sv[0]);
  if (rc != 0) return rc;
  close(sv[0]);
  exec_program(program);
  return 127;
}

static int mode_boot(int socket_fd, int self_fd, char **program) {
  struct sock_filter *prog;
  unsigned short len;
  int sv[2];
  pid_t pid = fork_supervisor(&prog, &len, sv);
  if (pid < 0) return 1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    int listener;
    char byte;
    if (send_fd(sv[1], -1, prog, len * sizeof *prog) < 0) _exit(1);
    if (recv_fd(sv[1], &listener, &byte, 1) <= 0 || listener < 0) _exit(0); /* the sandbox never started */
    close(sv[1]);
    detach_stdio(1);
    serve(listener);
  }
  /* both moved above the target numbers first, so neither dup2 overwrites the other's source */
  int opened = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  int self = opened < 0 ? -1 : fcntl(opened, F_DUPFD_CLOEXEC, 1001);
  int sock = fcntl(sv[0], F_DUPFD_CLOEXEC, 1001);
  if (self < 0 || sock < 0 || dup2(sock, socket_fd) < 0 || dup2(self, self_fd) < 0) {
    fprintf(stderr, "heyvm-nameguard: cannot pass the guard's descriptors: %s\n", strerror(errno));
    return 1;
  }
  exec_program(program);
  return 127;
}

static int mode_install(int socket_fd, int self_fd, char **program) {
  static struct sock_filter prog[BPF_MAXINSNS];
  int none;
  ssize_t n = recv_fd(socket_fd, &none, prog, sizeof prog);
  if (n <= 0 || n % (ssize_t)sizeof *prog != 0) {
    fprintf(stderr, "heyvm-nameguard: no filter from the supervisor\n");
    return 126;
  }
  int rc = install_and_hand_over(prog, (unsigned short)(n / (ssize_t)sizeof *prog), socket_fd);
  if (rc != 0) return rc;
  close(socket_fd);
  close(self_fd);
  exec_program(program);
  return 127;
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  if (check_handlers() < 0) return 1;
  const char *mode = argv[1];
  int i = 2, socket_fd = -1, self_fd = -1;
  if (strcmp(mode, "install") == 0) {
    if (argc < 6 || strcmp(argv[4], "--") != 0) usage();
    return mode_install(number(argv[2]), number(argv[3]), argv + 5);
  }
  const char *workspace = NULL;
  int follow_root = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
    if (strcmp(argv[i], "--follow-root") == 0) {
      follow_root = 1;
      i--;
      continue;
    }
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--workspace") == 0) workspace = argv[i + 1];
    else if (strcmp(argv[i], "--socket-fd") == 0) socket_fd = number(argv[i + 1]);
    else if (strcmp(argv[i], "--self-fd") == 0) self_fd = number(argv[i + 1]);
    else usage();
  }
  if (!workspace || workspace[0] != '/' || i + 1 >= argc) usage();
  guard_init(workspace);
  if (follow_root) {
    if (strcmp(mode, "run") != 0) usage();
    guard_follow_root();
  }
  char **program = argv + i + 1;
  if (strcmp(mode, "run") == 0) return mode_run(program);
  if (strcmp(mode, "boot") == 0 && socket_fd >= 0 && self_fd >= 0 && socket_fd != self_fd) return mode_boot(socket_fd, self_fd, program);
  usage();
  return 2;
}
