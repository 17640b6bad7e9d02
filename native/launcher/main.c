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
  set_node_command(argv[1], argc - 2, argv + 2);
  int heyvm_argc = argc - 2;
  char **heyvm_argv = argv + 2;
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
