/* src/state/liveness.ts in C: an owner counts only if its pid is alive, it is from this boot and
 * its /proc start time is the recorded one (no pid reuse). The same three checks, the same order. */
#include "launcher.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int boot_id_read;
static char *boot_id;

static int js_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

const char *current_boot_id(void) {
  if (!boot_id_read) {
    struct bytes text;
    boot_id_read = 1;
    if (read_file("/proc/sys/kernel/random/boot_id", &text) == 0) {
      char *start = text.data, *end = text.data + text.length;
      while (start < end && js_space(*start)) start++;
      while (end > start && js_space(end[-1])) end--;
      *end = '\0';
      boot_id = start;
    }
  }
  return boot_id;
}

char *process_start_time(long long pid) {
  char path[64];
  struct bytes stat;
  snprintf(path, sizeof path, "/proc/%lld/stat", pid);
  if (read_file(path, &stat) != 0) return NULL;
  char *close = strrchr(stat.data, ')');
  if (!close || close[1] == '\0') return NULL;
  char *fields = close + 2; /* fields[0] is field 3 of stat: the state */
  if (fields[0] == 'Z' || fields[0] == 'X') return NULL;
  for (int i = 0; i < 19; i++) {
    fields = strchr(fields, ' ');
    if (!fields) return NULL;
    fields++;
  }
  size_t n = strcspn(fields, " ");
  return strndup(fields, n);
}

static int pid_alive(long long pid) {
  if (pid <= 0 || pid > INT_MAX) return 0; /* process.kill() refuses what is not an int32 */
  return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int is_same_process(long long pid, const char *start_time, const char *recorded_boot) {
  const char *boot = current_boot_id();
  if (recorded_boot && boot && strcmp(recorded_boot, boot) != 0) return 0;
  if (!pid_alive(pid)) return 0;
  char *actual = process_start_time(pid);
  if (!actual && boot) return 0; /* gone or a zombie */
  int same = !start_time || (actual && strcmp(actual, start_time) == 0);
  free(actual);
  return same;
}
