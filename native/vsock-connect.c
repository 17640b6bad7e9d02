/*
 * heyvm-vsock-connect: the host end of a Firecracker hybrid-vsock connection.
 *
 * Firecracker exposes a guest's vsock ports on one unix socket (the vsock device's uds_path):
 * the host connects, writes "CONNECT <port>\n" and reads "OK <host-port>\n", after which the
 * socket is a byte stream to whatever listens on that vsock port in the guest. The
 * acknowledgement is read one byte at a time so that no byte of the guest's first message (an
 * SSH banner, say) is taken with it.
 *
 * Usage:
 *   heyvm-vsock-connect --fdpass UDS PORT
 *       connect, then hand the connected socket to ssh over stdout (ssh's ProxyUseFdpass): no
 *       process relays the bytes afterwards.
 *   heyvm-vsock-connect --exec UDS PORT -- PROGRAM [ARGS...]
 *       connect, then run PROGRAM with the connection as its stdin and stdout (the owner serves
 *       /workspace this way: a confined sftp-server on the connection).
 *   heyvm-vsock-connect --forward UDS PORT
 *       listen on 127.0.0.1 (a free port, printed on stdout as one line), and carry every
 *       connection made to it to vsock PORT: how a guest port is exposed on the host.
 *
 * A UDS path longer than a sockaddr_un holds is reached through its folder (chdir), so deep
 * HEYO_HOME paths work.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HANDSHAKE_TIMEOUT_MS 10000
#define RELAY_BUFFER 65536

static void die(const char *what) {
  fprintf(stderr, "heyvm-vsock-connect: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *message) {
  fprintf(stderr, "heyvm-vsock-connect: %s\n", message);
  exit(1);
}

static int connect_uds(const char *path) {
  struct sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  const char *name = path;
  if (strlen(path) >= sizeof address.sun_path) {
    /* too long for sun_path: connect relative to its folder */
    char *copy = strdup(path);
    char *slash = copy ? strrchr(copy, '/') : NULL;
    if (!slash) fail("socket path too long");
    *slash = '\0';
    if (chdir(copy[0] ? copy : "/") != 0) die("chdir to the socket's folder");
    name = path + (slash - copy) + 1;
    if (strlen(name) >= sizeof address.sun_path) fail("socket name too long");
  }
  memcpy(address.sun_path, name, strlen(name));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) die(path);
  return fd;
}

/* "CONNECT port\n", then "OK n\n" read byte by byte; exits on anything else. */
static int vsock_connect(const char *uds, const char *port) {
  char *end = NULL;
  long number = strtol(port, &end, 10);
  if (!end || *end || number < 0 || number > 0xffffffffL) fail("the port must be a number");
  int fd = connect_uds(uds);
  char request[64];
  int length = snprintf(request, sizeof request, "CONNECT %ld\n", number);
  if (write(fd, request, (size_t)length) != length) die("write CONNECT");
  char reply[64];
  size_t used = 0;
  for (;;) {
    struct pollfd waiting = {.fd = fd, .events = POLLIN};
    int ready = poll(&waiting, 1, HANDSHAKE_TIMEOUT_MS);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) fail("no answer to CONNECT");
    char byte;
    ssize_t got = read(fd, &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      fprintf(stderr, "heyvm-vsock-connect: vsock port %ld refused the connection (nothing listens there yet)\n", number);
      exit(2);
    }
    if (byte == '\n') break;
    if (used + 1 >= sizeof reply) fail("over-long answer to CONNECT");
    reply[used++] = byte;
  }
  reply[used] = '\0';
  if (strncmp(reply, "OK ", 3) != 0) {
    fprintf(stderr, "heyvm-vsock-connect: unexpected answer to CONNECT: %s\n", reply);
    exit(1);
  }
  return fd;
}

static void send_fd(int carrier, int fd) {
  char dummy = 0;
  struct iovec iov = {.iov_base = &dummy, .iov_len = 1};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(header), &fd, sizeof(int));
  while (sendmsg(carrier, &message, 0) < 0) {
    if (errno != EINTR) die("sendmsg (is ProxyUseFdpass set?)");
  }
}

/* Copies both ways until both directions have ended. */
static void relay(int a, int b) {
  static char buffer[RELAY_BUFFER];
  int open_ab = 1, open_ba = 1;
  while (open_ab || open_ba) {
    struct pollfd fds[2] = {{.fd = open_ab ? a : -1, .events = POLLIN}, {.fd = open_ba ? b : -1, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; i++) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = i == 0 ? a : b, to = i == 0 ? b : a;
      ssize_t got = read(from, buffer, sizeof buffer);
      if (got <= 0) {
        shutdown(to, SHUT_WR);
        if (i == 0) open_ab = 0;
        else open_ba = 0;
        continue;
      }
      for (ssize_t sent = 0; sent < got;) {
        ssize_t wrote = write(to, buffer + sent, (size_t)(got - sent));
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) return;
        sent += wrote;
      }
    }
  }
}

static void forward(const char *uds, const char *port) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) die("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) die("bind 127.0.0.1");
  if (listen(listener, 64) != 0) die("listen");
  socklen_t size = sizeof address;
  if (getsockname(listener, (struct sockaddr *)&address, &size) != 0) die("getsockname");
  printf("%d\n", ntohs(address.sin_port));
  fflush(stdout);
  int null = open("/dev/null", O_WRONLY);
  if (null >= 0) dup2(null, STDOUT_FILENO);
  signal(SIGCHLD, SIG_IGN); /* connection workers are reaped by the kernel */
  for (;;) {
    int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept");
    }
    pid_t worker = fork();
    if (worker == 0) {
      close(listener);
      int guest = vsock_connect(uds, port);
      relay(client, guest);
      _exit(0);
    }
    close(client);
  }
}

int main(int argc, char **argv) {
  /* the owner's helpers end with the owner (a forwarder would otherwise listen on forever) */
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 1;
  if (argc >= 4 && strcmp(argv[1], "--fdpass") == 0) {
    int fd = vsock_connect(argv[2], argv[3]);
    send_fd(STDOUT_FILENO, fd);
    return 0;
  }
  if (argc >= 6 && strcmp(argv[1], "--exec") == 0 && strcmp(argv[4], "--") == 0) {
    int fd = vsock_connect(argv[2], argv[3]);
    if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0) die("dup2");
    execvp(argv[5], argv + 5);
    die(argv[5]);
  }
  if (argc >= 4 && strcmp(argv[1], "--forward") == 0) {
    forward(argv[2], argv[3]);
    return 0;
  }
  fprintf(stderr, "usage: heyvm-vsock-connect --fdpass UDS PORT | --exec UDS PORT -- PROGRAM [ARGS...] | --forward UDS PORT\n");
  return 64;
}
