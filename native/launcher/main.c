/* heyvm-launcher <node entry> <heyvm argv…>: bin/heyvm runs it first (unless HEYVM_FAST=0 or it
 * was not built). It answers `--version`, `exec` and `list` in their canonical forms and hands
 * everything else to `node <node entry> <heyvm argv…>`, the CLI proper, before doing anything. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "version.h" /* HEYVM_VERSION, generated from src/shared/version.ts by scripts/build-native.sh */

static char *node_entry;
static char **heyvm_argv;
static int heyvm_argc;

void trace(const char *what, const char *detail) {
  const char *path = getenv("HEYVM_LAUNCHER_TRACE");
  if (!path || !*path) return;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  dprintf(fd, "%s: %s\n", what, detail);
  close(fd);
}

_Noreturn void fall_back(const char *why) {
  trace("node", why);
  char **argv = calloc((size_t)heyvm_argc + 3, sizeof *argv);
  if (argv) {
    argv[0] = "node";
    argv[1] = node_entry;
    memcpy(argv + 2, heyvm_argv, (size_t)heyvm_argc * sizeof *argv);
    execvp("node", argv); /* as `#!/usr/bin/env node` finds it */
  }
  fprintf(stderr, "heyvm: cannot start node (%s): install Node.js 20 or newer\n", strerror(errno));
  exit(127);
}

/* node.cc PlatformInit: a closed fd 0, 1 or 2 is opened on /dev/null, so children see it open. */
static void open_missing_stdio(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    if (open("/dev/null", O_RDWR) != fd) _exit(134);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "heyvm-launcher: run bin/heyvm instead (it passes its node entry first)\n");
    return 2;
  }
  node_entry = argv[1];
  heyvm_argv = argv + 2;
  heyvm_argc = argc - 2;
  open_missing_stdio();
  const char *fast = getenv("HEYVM_FAST");
  if (fast && strcmp(fast, "0") == 0) fall_back("HEYVM_FAST=0");
  const char *traced = getenv("HEYVM_TRACE");
  if (traced && strcmp(traced, "1") == 0) fall_back("HEYVM_TRACE=1: the Node CLI prints the steps");
  if (heyvm_argc == 0) fall_back("no command");
  const char *command = heyvm_argv[0];
  if (heyvm_argc == 1 && (strcmp(command, "--version") == 0 || strcmp(command, "-V") == 0)) {
    trace("native", "--version");
    signal(SIGPIPE, SIG_IGN);
    const char text[] = HEYVM_VERSION "\n";
    write_out(text, sizeof text - 1);
    return 0;
  }
  if (strcmp(command, "exec") == 0) return run_exec(heyvm_argc - 1, heyvm_argv + 1);
  if (strcmp(command, "list") == 0) return run_list(heyvm_argc - 1, heyvm_argv + 1);
  fall_back("not a form the launcher answers");
}
