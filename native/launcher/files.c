/* Files, paths and strings as the Node CLI sees them: HEYO_HOME resolved as state/home.ts does,
 * executables found as shared/run.ts findExecutable does, and the checks that tell when a byte
 * string would not come back unchanged through Node (which decodes argv and environ as UTF-8). */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int read_file(const char *path, struct bytes *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t size = 4096, length = 0;
  char *data = malloc(size);
  for (;;) {
    if (!data) {
      close(fd);
      errno = ENOMEM;
      return -1;
    }
    if (length + 1 >= size) {
      size *= 2;
      data = realloc(data, size);
      continue;
    }
    ssize_t n = read(fd, data + length, size - length - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      close(fd);
      free(data);
      errno = saved;
      return -1;
    }
    if (n == 0) break;
    length += (size_t)n;
  }
  close(fd);
  data[length] = '\0';
  out->data = data;
  out->length = length;
  return 0;
}

char *path_join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *path = malloc(a + b + 2);
  if (!path) return NULL;
  memcpy(path, dir, a);
  path[a] = '/';
  memcpy(path + a + 1, name, b + 1);
  return path;
}

/* An absolute path whose every segment is a name: the kernel finds what path.resolve() would. */
static int plain_absolute(const char *path) {
  if (path[0] != '/') return 0;
  for (const char *p = path; *p; p++) {
    if (*p != '/') continue;
    const char *next = p + 1;
    if (*next == '/') return 0;
    if (next[0] == '.' && (next[1] == '/' || next[1] == '\0')) return 0;
    if (next[0] == '.' && next[1] == '.' && (next[2] == '/' || next[2] == '\0')) return 0;
  }
  return 1;
}

char *heyo_home(void) {
  const char *given = getenv("HEYO_HOME");
  if (given && *given) {
    if (!valid_utf8(given, strlen(given))) return NULL;
    size_t n = strlen(given);
    char *copy = strdup(given);
    while (n > 1 && copy[n - 1] == '/') copy[--n] = '\0'; /* resolve() drops a trailing slash */
    return plain_absolute(copy) ? copy : NULL;
  }
  const char *home = getenv("HOME"); /* os.homedir(): $HOME when set (getpwuid otherwise: left to Node) */
  if (!home || !*home || !valid_utf8(home, strlen(home))) return NULL;
  char *copy = strdup(home);
  size_t n = strlen(copy);
  while (n > 1 && copy[n - 1] == '/') copy[--n] = '\0';
  if (!plain_absolute(copy)) return NULL;
  return strcmp(copy, "/") == 0 ? strdup("/.heyo") : path_join(copy, ".heyo");
}

int valid_utf8(const char *text, size_t length) {
  const unsigned char *s = (const unsigned char *)text, *end = s + length;
  while (s < end) {
    unsigned c = *s++;
    if (c < 0x80) continue;
    int more;
    unsigned point, min;
    if (c >= 0xc2 && c <= 0xdf) more = 1, point = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) more = 2, point = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) more = 3, point = c & 0x07, min = 0x10000;
    else return 0;
    if (end - s < more) return 0;
    for (int i = 0; i < more; i++) {
      if ((s[i] & 0xc0) != 0x80) return 0;
      point = point << 6 | (s[i] & 0x3f);
    }
    s += more;
    if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return 0;
  }
  return 1;
}

int printable_ascii(const char *text) {
  for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
    if (*s < 0x20 || *s > 0x7e) return 0;
  }
  return 1;
}

char *find_executable(const char *name, const char *path, const char **why) {
  if (strchr(name, '/')) {
    if (access(name, X_OK) == 0) return strdup(name);
    *why = "the program is not there";
    return NULL;
  }
  const char *at = path;
  while (*at) {
    const char *colon = strchr(at, ':');
    size_t n = colon ? (size_t)(colon - at) : strlen(at);
    if (n > 0) {
      char *dir = strndup(at, n);
      while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0'; /* path.join() drops it */
      if (!plain_absolute(dir)) {
        *why = "PATH has a folder that is not a plain absolute path";
        return NULL;
      }
      char *candidate = strcmp(dir, "/") == 0 ? path_join("", name) : path_join(dir, name);
      if (access(candidate, X_OK) == 0) return candidate;
      free(candidate);
      free(dir);
    }
    if (!colon) break;
    at = colon + 1;
  }
  *why = "the program is not on PATH";
  return NULL;
}

void write_out(const char *text, size_t length) {
  while (length > 0) {
    ssize_t n = write(1, text, length);
    if (n < 0 && errno == EAGAIN) { /* a non-blocking pipe that is full: wait, as cli/io.ts fdOutput does */
      struct pollfd wait = {1, POLLOUT, 0};
      poll(&wait, 1, 1);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; /* EPIPE: the reader went away; Node ends quietly too */
    text += n;
    length -= (size_t)n;
  }
}
