/* owner.log: the monitor's own lines and the machine's console, in the Node owner's format; and
 * the small helpers for time and files the other parts share. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_fd = -1;

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void iso_time(char *out, size_t size) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* "SIGTERM" and the like (sigabbrev_np is too new for older C libraries). */
void signal_name(int number, char *out, size_t size) {
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

void write_all(int fd, const char *text, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, text, length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    length -= (size_t)n;
  }
}

void log_open(void) {
  log_fd = open(cfg.log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) log_fd = 2;
}

/* One owner.log line, in the format the Node owner writes: "<ISO time> <source>: <text>". */
void log_line(const char *source, const char *text, size_t length) {
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

void log_owner(const char *format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (n < 0) return;
  log_line("owner", text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* Appends bytes to a line buffer and logs each complete line as machine console output. */
void take_console(struct line_buffer *buffer, const char *bytes, size_t length) {
  for (size_t i = 0; i < length; i++) {
    if (bytes[i] == '\n' || buffer->used == sizeof buffer->text) {
      log_line("console", buffer->text, buffer->used);
      buffer->used = 0;
      if (bytes[i] == '\n') continue;
    }
    buffer->text[buffer->used++] = bytes[i];
  }
}

void flush_console(struct line_buffer *buffer) {
  if (buffer->used > 0) log_line("console", buffer->text, buffer->used);
  buffer->used = 0;
}

/* Logs what the machine has added to the file its console goes to (--follow), if any. */
void follow_file(void) {
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

/* Copies JSON-escaped text into out (size > 8); stops early rather than overflow. */
void json_escape(char *out, size_t size, const char *text) {
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
void write_file_atomically(const char *path, const char *text) {
  char temp[4096];
  snprintf(temp, sizeof temp, "%s.%d.tmp", path, (int)getpid());
  int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, text, strlen(text));
  close(fd);
  rename(temp, path);
}

/* Creates an empty file (and its folder): the catalog index's change marker. */
void touch_file(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {
    char folder[4096];
    snprintf(folder, sizeof folder, "%s", path);
    char *slash = strrchr(folder, '/');
    if (slash && slash != folder) {
      *slash = '\0';
      mkdir(folder, 0755);
      fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
  }
  if (fd >= 0) close(fd);
}

/* Wall-clock milliseconds since the epoch (for a TTL given by the Node owner as Date.now()). */
long long epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
