/* The way out to the Node CLI, and the trace of who answered: what main.c, exec.c and list.c all
 * call, in a file of its own so that none of them depends on main.c. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *node_entry;
static char **heyvm_argv;
static int heyvm_argc;

void set_node_command(char *entry, int argc, char **argv) {
  node_entry = entry;
  heyvm_argc = argc;
  heyvm_argv = argv;
}

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
