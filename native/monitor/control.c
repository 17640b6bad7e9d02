/* owner.sock: one JSON request per line, one JSON answer per line, as the Node owner's server in
 * src/shared/owner-protocol.ts (a test sends both the same requests and compares the answers).
 * A request is read as strictly as JSON.parse reads it: anything else is malformed. */
#include "monitor.h"
#include "../common/json-text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MALFORMED_ANSWER "{\"ok\":false,\"error\":\"malformed request\"}\n"

struct client clients[MAX_CLIENTS];

/* A JSON text being read, and the string values a request is made of. */
struct reader {
  const char *at, *end;
};

struct text {
  char *bytes; /* NULL: the value is checked, not kept */
  size_t size, length; /* length may exceed size - 1: a long value is cut, not refused */
};

struct request {
  char op[32], reason[1000];
  int op_given, reason_given; /* as a string: another value counts as not given */
  size_t op_length;
};

static void skip_space(struct reader *r) {
  while (r->at < r->end && (*r->at == ' ' || *r->at == '\t' || *r->at == '\n' || *r->at == '\r')) r->at++;
}

static int take(struct reader *r, char c) {
  if (r->at >= r->end || *r->at != c) return 0;
  r->at++;
  return 1;
}

static void put_byte(struct text *out, unsigned char c) {
  if (out->bytes && out->length + 1 < out->size) out->bytes[out->length] = (char)c;
  out->length++;
}

static void put_code_point(struct text *out, unsigned point) {
  if (point == 0 || (point >= 0xd800 && point <= 0xdfff)) {
    put_byte(out, '?'); /* NUL and lone surrogates: kept as '?' (reasons are for people to read) */
  } else {
    unsigned char bytes[4];
    size_t n = utf8_encode(point, bytes);
    for (size_t i = 0; i < n; i++) put_byte(out, bytes[i]);
  }
}

/* A JSON string, unescaped into out. */
static int read_string(struct reader *r, struct text *out) {
  if (!take(r, '"')) return 0;
  while (r->at < r->end) {
    unsigned char c = (unsigned char)*r->at++;
    if (c == '"') {
      if (out->bytes) out->bytes[out->length < out->size ? out->length : out->size - 1] = '\0';
      return 1;
    }
    if (c < 0x20) return 0;
    if (c != '\\') {
      put_byte(out, c);
      continue;
    }
    if (r->at >= r->end) return 0;
    char escape = *r->at++;
    unsigned point;
    switch (escape) {
      case '"': case '\\': case '/': put_byte(out, (unsigned char)escape); break;
      case 'b': put_byte(out, '\b'); break;
      case 'f': put_byte(out, '\f'); break;
      case 'n': put_byte(out, '\n'); break;
      case 'r': put_byte(out, '\r'); break;
      case 't': put_byte(out, '\t'); break;
      case 'u':
        if (!json_hex4(&r->at, r->end, &point)) return 0;
        if (point >= 0xd800 && point <= 0xdbff && r->end - r->at >= 6 && r->at[0] == '\\' && r->at[1] == 'u') {
          struct reader low = {r->at + 2, r->end};
          unsigned second;
          if (json_hex4(&low.at, low.end, &second) && second >= 0xdc00 && second <= 0xdfff) {
            point = 0x10000 + ((point - 0xd800) << 10) + (second - 0xdc00);
            r->at = low.at;
          }
        }
        put_code_point(out, point);
        break;
      default: return 0;
    }
  }
  return 0;
}

static int digits(struct reader *r) {
  const char *start = r->at;
  while (r->at < r->end && *r->at >= '0' && *r->at <= '9') r->at++;
  return r->at > start;
}

static int read_number(struct reader *r) {
  take(r, '-');
  if (!take(r, '0') && !digits(r)) return 0;
  if (take(r, '.') && !digits(r)) return 0;
  if (take(r, 'e') || take(r, 'E')) {
    if (!take(r, '+')) take(r, '-');
    if (!digits(r)) return 0;
  }
  return 1;
}

static int read_word(struct reader *r, const char *word) {
  size_t length = strlen(word);
  if ((size_t)(r->end - r->at) < length || memcmp(r->at, word, length) != 0) return 0;
  r->at += length;
  return 1;
}

static int read_value(struct reader *r);

/* An object's members; with a request, its "op" and "reason" strings are kept (the last wins). */
static int read_object(struct reader *r, struct request *request) {
  if (!take(r, '{')) return 0;
  skip_space(r);
  if (take(r, '}')) return 1;
  do {
    skip_space(r);
    char key_bytes[8];
    struct text key = {key_bytes, sizeof key_bytes, 0};
    if (!read_string(r, &key)) return 0;
    skip_space(r);
    if (!take(r, ':')) return 0;
    skip_space(r);
    int is_op = request && key.length == 2 && memcmp(key_bytes, "op", 2) == 0;
    int is_reason = request && key.length == 6 && memcmp(key_bytes, "reason", 6) == 0;
    if ((is_op || is_reason) && r->at < r->end && *r->at == '"') {
      struct text value = is_op ? (struct text){request->op, sizeof request->op, 0} : (struct text){request->reason, sizeof request->reason, 0};
      if (!read_string(r, &value)) return 0;
      if (is_op) request->op_length = value.length;
      *(is_op ? &request->op_given : &request->reason_given) = 1;
    } else {
      if (!read_value(r)) return 0;
      if (is_op) request->op_given = 0;
      if (is_reason) request->reason_given = 0;
    }
    skip_space(r);
  } while (take(r, ','));
  return take(r, '}');
}

static int read_array(struct reader *r) {
  if (!take(r, '[')) return 0;
  skip_space(r);
  if (take(r, ']')) return 1;
  do {
    skip_space(r);
    if (!read_value(r)) return 0;
    skip_space(r);
  } while (take(r, ','));
  return take(r, ']');
}

static int read_value(struct reader *r) {
  if (r->at >= r->end) return 0;
  struct text ignored = {NULL, 0, 0};
  switch (*r->at) {
    case '{': return read_object(r, NULL);
    case '[': return read_array(r);
    case '"': return read_string(r, &ignored);
    case 't': return read_word(r, "true");
    case 'f': return read_word(r, "false");
    case 'n': return read_word(r, "null");
    default: return read_number(r);
  }
}

/* A request line: a JSON object and nothing else; 0 if it is not one. */
static int read_request(const char *line, size_t length, struct request *request) {
  struct reader r = {line, line + length};
  memset(request, 0, sizeof *request);
  skip_space(&r);
  if (!read_object(&r, request)) return 0;
  skip_space(&r);
  return r.at == r.end;
}

static int op_is(const struct request *request, const char *op) {
  return request->op_given && request->op_length == strlen(op) && memcmp(request->op, op, request->op_length) == 0;
}

static void answer(struct client *client, const char *text) { write_all(client->fd, text, strlen(text)); }

static void handle_request(struct client *client, const char *line, size_t length) {
  struct request request;
  if (!read_request(line, length, &request)) {
    answer(client, MALFORMED_ANSWER);
  } else if (op_is(&request, "status")) {
    char id[512], text[700];
    json_escape(id, sizeof id, cfg.id);
    snprintf(text, sizeof text, "{\"ok\":true,\"id\":\"%s\",\"pid\":%d,\"state\":\"%s\"}\n", id, (int)getpid(),
             state == RUNNING ? "running" : "stopping");
    answer(client, text);
  } else if (op_is(&request, "stop")) {
    answer(client, "{\"ok\":true}\n");
    start_stop(request.reason_given ? request.reason : DEFAULT_STOP_REASON);
  } else {
    answer(client, MALFORMED_ANSWER);
  }
}

void control_init(void) {
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
}

static void close_client(struct client *client) {
  close(client->fd);
  client->fd = -1;
  client->used = 0;
}

void read_client(struct client *client) {
  ssize_t n = read(client->fd, client->text + client->used, REQUEST_MAX_BYTES - client->used);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_client(client);
    return;
  }
  client->used += (size_t)n;
  char *newline;
  while (client->fd >= 0 && (newline = memchr(client->text, '\n', client->used)) != NULL) {
    size_t length = (size_t)(newline - client->text);
    handle_request(client, client->text, length);
    size_t rest = client->used - length - 1;
    memmove(client->text, newline + 1, rest);
    client->used = rest;
  }
  if (client->fd >= 0 && client->used == REQUEST_MAX_BYTES) { /* a line too long for the buffer */
    answer(client, MALFORMED_ANSWER);
    close_client(client);
  }
}

void accept_client(void) {
  int fd = accept4(cfg.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) usleep(100000); /* EMFILE…: do not spin */
    return;
  }
  int slot = 0;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd < 0) {
      slot = i;
      break;
    }
    if (clients[i].since < clients[slot].since) slot = i;
  }
  if (clients[slot].fd >= 0) close_client(&clients[slot]); /* all taken: the oldest (idle) one goes */
  clients[slot].fd = fd;
  clients[slot].since = now_ms();
  clients[slot].used = 0;
}
