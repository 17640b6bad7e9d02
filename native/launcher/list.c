/* `heyvm list [--json]`: the running sandboxes, as src/core/list.ts finds them and
 * src/cli/list-output.ts prints them. The live index gives the candidates; each one's owner must
 * be alive (state/status.ts) and say `running` over owner.sock, as sandboxStatus asks it; its row
 * is the one its launch record holds. A stale marker (Node removes it), an owner that is starting,
 * stopping or silent, or a record that does not match goes to Node. */
#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STATUS_BATCH 256 /* owners asked at once (open sockets) */
#define NO_RUNNING "no running sandboxes (use --all to include stopped ones)\n"

struct row {
  const char *id, *json, *created_at;
  const char *cells[7];
  int has_age;
  long long age_from_ms;
};

static int compare_ids(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Oldest first; the live index's (sorted) order among equals, as Array.prototype.sort is stable. */
static int compare_rows(const void *a, const void *b) {
  const struct row *x = a, *y = b;
  int order = strcmp(x->created_at, y->created_at);
  return order ? order : strcmp(x->id, y->id);
}

static long long now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Asks an owner for its status, as askOwner does: the connected socket the answer comes on, or -1. */
static int ask_status(const char *home, const char *id) {
  char *sandboxes = path_join(home, "sandboxes"), *dir = path_join(sandboxes, id), *path = path_join(dir, "owner.sock");
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) return -1;
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const char request[] = "{\"op\":\"status\"}\n";
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0 || send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1)) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The owner's own word on an asked socket (closed here), by the deadline: 1 when it answers
 * running with the recorded pid. */
static int owner_says_running(int fd, long long pid, long long deadline, const char **why) {
  *why = "the owner did not answer";
  if (fd < 0) return 0;
  char answer[4096];
  size_t length = 0;
  char *newline = NULL;
  while (!newline) {
    long long left = deadline - now_ms();
    struct pollfd wait = {fd, POLLIN, 0};
    ssize_t n = left > 0 && poll(&wait, 1, (int)left) > 0 ? read(fd, answer + length, sizeof answer - 1 - length) : -1;
    if (n <= 0) break;
    length += (size_t)n;
    answer[length] = '\0';
    newline = memchr(answer, '\n', length);
    if (!newline && length >= sizeof answer - 1) break;
  }
  close(fd);
  if (!newline) return 0;
  const struct json *reply = json_parse(answer, (size_t)(newline - answer));
  const struct json *ok = json_get(reply, "ok");
  const char *state = json_text(json_get(reply, "state"));
  long long answered_pid;
  if (!ok || ok->type != JSON_TRUE || !state || !json_integer(json_get(reply, "pid"), &answered_pid) || answered_pid != pid) return 0;
  if (strcmp(state, "running") != 0) {
    *why = "an owner that is not running";
    return 0;
  }
  return 1;
}

/* The number of UTF-16 code units: what String.prototype.length and padEnd count. */
static size_t js_length(const char *text) {
  size_t n = 0;
  for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
    if ((*s & 0xc0) != 0x80) n += *s >= 0xf0 ? 2 : 1;
  }
  return n;
}

static void write_text(const char *text) {
  write_out(text, strlen(text));
}

/* render.ts age(): the largest whole unit of the time since. */
static void format_age(const struct row *r, long long now, char *out, size_t size) {
  if (!r->has_age) {
    snprintf(out, size, "-");
    return;
  }
  long long ms = now - r->age_from_ms;
  long long seconds = ms <= 0 ? 0 : (ms + 500) / 1000; /* Math.max(0, Math.round(ms / 1000)) */
  if (seconds < 60) snprintf(out, size, "%llds", seconds);
  else if (seconds < 3600) snprintf(out, size, "%lldm", seconds / 60);
  else if (seconds < 86400) snprintf(out, size, "%lldh", seconds / 3600);
  else snprintf(out, size, "%lldd", seconds / 86400);
}

/* render.ts table() of list-output.ts's columns, newline-ended as print() ends it. */
static char *table_text(struct row *rows, size_t count, size_t *out_length) {
  static const char *headers[7] = {"ID", "NAME", "STATE", "BACKEND", "BRANCH", "AGE", "WORKTREE"};
  size_t widths[7];
  char (*ages)[32] = malloc(count * sizeof *ages);
  long long now = now_ms();
  for (size_t i = 0; i < count; i++) {
    format_age(&rows[i], now, ages[i], sizeof ages[i]);
    rows[i].cells[5] = ages[i];
  }
  for (int c = 0; c < 7; c++) {
    widths[c] = js_length(headers[c]);
    for (size_t i = 0; i < count; i++) {
      size_t n = js_length(rows[i].cells[c]);
      if (n > widths[c]) widths[c] = n;
    }
  }
  size_t size = 4096, length = 0;
  char *text = malloc(size);
  for (size_t line = 0; line <= count; line++) {
    const char *const *cells = line == 0 ? headers : rows[line - 1].cells;
    size_t start = length;
    for (int c = 0; c < 7; c++) {
      size_t cell = strlen(cells[c]), pad = c == 6 ? 0 : widths[c] - js_length(cells[c]);
      while (length + cell + pad + 4 >= size) text = realloc(text, size *= 2);
      if (c > 0) text[length++] = ' ', text[length++] = ' ';
      memcpy(text + length, cells[c], cell);
      length += cell;
      memset(text + length, ' ', pad);
      length += pad;
    }
    while (length > start && strchr(" \t\n\r\v\f", text[length - 1])) length--; /* trimEnd() */
    if (length > start && (unsigned char)text[length - 1] >= 0x80) fall_back("a row ending in a character trimEnd() may take");
    text[length++] = '\n';
  }
  *out_length = length;
  return text;
}

int run_list(int argc, char **argv) {
  int json = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--json") != 0) fall_back("a list option the launcher does not take");
    json = 1;
  }
  char *home = heyo_home();
  if (!home) fall_back("HEYO_HOME is not a plain absolute path");
  /* a configured cloud's sandboxes are listed beside the local ones (src/cloud/credentials.ts cloudConfigured): Node's */
  char *token = path_join(home, "token.json");
  if (getenv("HEYO_API_KEY") || getenv("HEYO_ARCHIVE_TOKEN") || access(token, F_OK) == 0) fall_back("a cloud may be configured");
  free(token);
  char *live = path_join(home, "live");
  DIR *dir = opendir(live);
  size_t count = 0, size = 16, id_count = 0, id_size = 16;
  struct row *rows = malloc(size * sizeof *rows);
  char **ids = malloc(id_size * sizeof *ids);
  if (!dir && errno != ENOENT) fall_back("the live index cannot be read");
  for (struct dirent *entry; dir && (entry = readdir(dir));) {
    if (strncmp(entry->d_name, "sb-", 3) != 0) continue;
    if (id_count == id_size) ids = realloc(ids, (id_size *= 2) * sizeof *ids);
    ids[id_count++] = strdup(entry->d_name);
  }
  if (dir) closedir(dir);
  qsort(ids, id_count, sizeof *ids, compare_ids);
  /* every owner is asked before any answer is read (in batches, within the open-files limit):
   * with many sandboxes running, list waits for the slowest owner, not for the sum of them */
  struct launch_record *records = malloc((id_count ? id_count : 1) * sizeof *records);
  int *asked = malloc((id_count ? id_count : 1) * sizeof *asked);
  for (size_t first = 0; first < id_count; first += STATUS_BATCH) {
    size_t end = first + STATUS_BATCH < id_count ? first + STATUS_BATCH : id_count;
    for (size_t i = first; i < end; i++) {
      const char *why = "";
      if (!load_record(home, ids[i], &records[i], &why)) fall_back(why);
      asked[i] = ask_status(home, ids[i]);
    }
    long long deadline = now_ms() + STATUS_TIMEOUT_MS;
    for (size_t i = first; i < end; i++) {
      const char *why = "";
      long long pid;
      json_integer(json_get(json_get(records[i].root, "owner"), "pid"), &pid);
      if (!owner_says_running(asked[i], pid, deadline, &why)) fall_back(why);
    }
  }
  for (size_t i = 0; i < id_count; i++) {
    struct launch_record record = records[i];
    long long age_from;
    const struct json *list = record.list, *cells = json_get(list, "cells"), *age = json_get(list, "ageFromMs");
    struct row row = {ids[i], json_text(json_get(list, "json")), json_text(json_get(list, "createdAt")), {0}, 0, 0};
    if (!row.json || !row.created_at || !printable_ascii(row.created_at) || !cells || cells->type != JSON_ARRAY || cells->count != 7 || !age) {
      fall_back("a launch record without its list row");
    }
    for (int c = 0; c < 7; c++) {
      row.cells[c] = json_text(&cells->items[c]);
      if (!row.cells[c]) fall_back("a launch record without its list row");
    }
    if (json_integer(age, &age_from)) row.has_age = 1, row.age_from_ms = age_from;
    else if (age->type != JSON_NULL) fall_back("a launch record without its list row");
    if (count == size) rows = realloc(rows, (size *= 2) * sizeof *rows);
    rows[count++] = row;
  }
  qsort(rows, count, sizeof *rows, compare_rows);
  char *table = NULL;
  size_t table_length = 0;
  if (!json && count > 0) table = table_text(rows, count, &table_length);
  trace("native", json ? "list --json" : "list");
  signal(SIGPIPE, SIG_IGN); /* as node ignores it: a reader that went away is an EPIPE */
  if (table) {
    write_out(table, table_length);
  } else if (!json) {
    write_text(NO_RUNNING);
  } else if (count == 0) {
    write_text("[]\n");
  } else {
    size_t length = 4, at = 0;
    for (size_t i = 0; i < count; i++) length += strlen(rows[i].json) + 2;
    char *text = malloc(length + 1);
    if (!text) fall_back("out of memory");
    memcpy(text, "[\n", 2), at = 2;
    for (size_t i = 0; i < count; i++) {
      if (i > 0) memcpy(text + at, ",\n", 2), at += 2;
      size_t n = strlen(rows[i].json);
      memcpy(text + at, rows[i].json, n), at += n;
    }
    memcpy(text + at, "\n]\n", 3), at += 3;
    write_out(text, at); /* one write, as Node's one writeSync */
  }
  return 0;
}
