/* A strict JSON reader for the records heyvm's TypeScript writes (JSON.stringify output): what
 * JSON.parse accepts, except lone surrogate escapes, which are refused (the launcher then hands
 * the command to Node rather than guess how a string would compare). */
#include "launcher.h"
#include "../common/json-text.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

struct reader {
  const char *at, *end;
  int depth;
};

struct buffer {
  char *data;
  size_t length, size;
};

static int put(struct buffer *b, char c) {
  if (b->length + 1 >= b->size) {
    size_t size = b->size ? b->size * 2 : 64;
    char *data = realloc(b->data, size);
    if (!data) return 0;
    b->data = data;
    b->size = size;
  }
  b->data[b->length++] = c;
  return 1;
}

static void skip_space(struct reader *r) {
  while (r->at < r->end && (*r->at == ' ' || *r->at == '\t' || *r->at == '\n' || *r->at == '\r')) r->at++;
}

static int literal(struct reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->at) < n || memcmp(r->at, word, n) != 0) return 0;
  r->at += n;
  return 1;
}

static int put_code_point(struct buffer *b, unsigned point) {
  unsigned char bytes[4];
  size_t n = utf8_encode(point, bytes);
  for (size_t i = 0; i < n; i++)
    if (!put(b, (char)bytes[i])) return 0;
  return 1;
}

static int read_string(struct reader *r, char **out, size_t *length) {
  struct buffer b = {0};
  if (r->at >= r->end || *r->at != '"') return 0;
  r->at++;
  while (r->at < r->end) {
    unsigned char c = (unsigned char)*r->at++;
    if (c == '"') {
      if (!put(&b, '\0')) return 0;
      *out = b.data;
      *length = b.length - 1;
      return 1;
    }
    if (c < 0x20) break;
    if (c != '\\') {
      if (!put(&b, (char)c)) break;
      continue;
    }
    if (r->at >= r->end) break;
    char escape = *r->at++;
    unsigned point;
    int ok = 1;
    switch (escape) {
      case '"': case '\\': case '/': ok = put(&b, escape); break;
      case 'b': ok = put(&b, '\b'); break;
      case 'f': ok = put(&b, '\f'); break;
      case 'n': ok = put(&b, '\n'); break;
      case 'r': ok = put(&b, '\r'); break;
      case 't': ok = put(&b, '\t'); break;
      case 'u':
        if (!json_hex4(&r->at, r->end, &point)) { ok = 0; break; }
        if (point >= 0xdc00 && point <= 0xdfff) { ok = 0; break; } /* a lone low surrogate */
        if (point >= 0xd800 && point <= 0xdbff) {
          unsigned low;
          if (r->end - r->at < 6 || r->at[0] != '\\' || r->at[1] != 'u') { ok = 0; break; }
          r->at += 2;
          if (!json_hex4(&r->at, r->end, &low) || low < 0xdc00 || low > 0xdfff) { ok = 0; break; }
          point = 0x10000 + ((point - 0xd800) << 10) + (low - 0xdc00);
        }
        ok = put_code_point(&b, point);
        break;
      default: ok = 0;
    }
    if (!ok) break;
  }
  free(b.data);
  return 0;
}

/* The UTF-8 inside strings is checked by the callers that compare or pass it on. */
static int read_number(struct reader *r, double *out) {
  const char *start = r->at;
  if (r->at < r->end && *r->at == '-') r->at++;
  if (r->at >= r->end) return 0;
  if (*r->at == '0') {
    r->at++;
  } else if (*r->at >= '1' && *r->at <= '9') {
    while (r->at < r->end && *r->at >= '0' && *r->at <= '9') r->at++;
  } else {
    return 0;
  }
  if (r->at < r->end && *r->at == '.') {
    r->at++;
    if (r->at >= r->end || *r->at < '0' || *r->at > '9') return 0;
    while (r->at < r->end && *r->at >= '0' && *r->at <= '9') r->at++;
  }
  if (r->at < r->end && (*r->at == 'e' || *r->at == 'E')) {
    r->at++;
    if (r->at < r->end && (*r->at == '+' || *r->at == '-')) r->at++;
    if (r->at >= r->end || *r->at < '0' || *r->at > '9') return 0;
    while (r->at < r->end && *r->at >= '0' && *r->at <= '9') r->at++;
  }
  size_t n = (size_t)(r->at - start);
  char text[64];
  if (n >= sizeof text) return 0; /* heyvm's records hold no such numbers */
  memcpy(text, start, n);
  text[n] = '\0';
  *out = strtod(text, NULL);
  return 1;
}

static int read_value(struct reader *r, struct json *out);

static int read_items(struct reader *r, struct json *out, int object) {
  size_t size = 0;
  char close = object ? '}' : ']';
  r->at++;
  skip_space(r);
  if (r->at < r->end && *r->at == close) {
    r->at++;
    return 1;
  }
  for (;;) {
    if (out->count == size) {
      size = size ? size * 2 : 8;
      struct json *items = realloc(out->items, size * sizeof *items);
      if (!items) return 0;
      out->items = items;
      if (object) {
        char **keys = realloc(out->keys, size * sizeof *keys);
        if (!keys) return 0;
        out->keys = keys;
      }
    }
    skip_space(r);
    if (object) {
      size_t key_length;
      if (!read_string(r, &out->keys[out->count], &key_length)) return 0;
      skip_space(r);
      if (r->at >= r->end || *r->at != ':') return 0;
      r->at++;
    }
    if (!read_value(r, &out->items[out->count])) return 0;
    out->count++;
    skip_space(r);
    if (r->at < r->end && *r->at == ',') {
      r->at++;
      continue;
    }
    if (r->at < r->end && *r->at == close) {
      r->at++;
      return 1;
    }
    return 0;
  }
}

static int read_value(struct reader *r, struct json *out) {
  memset(out, 0, sizeof *out);
  skip_space(r);
  if (r->at >= r->end) return 0;
  switch (*r->at) {
    case '{':
    case '[': {
      if (++r->depth > MAX_DEPTH) return 0;
      int object = *r->at == '{';
      out->type = object ? JSON_OBJECT : JSON_ARRAY;
      int ok = read_items(r, out, object);
      r->depth--;
      return ok;
    }
    case '"': out->type = JSON_STRING; return read_string(r, &out->string, &out->length);
    case 't': out->type = JSON_TRUE; return literal(r, "true");
    case 'f': out->type = JSON_FALSE; return literal(r, "false");
    case 'n': out->type = JSON_NULL; return literal(r, "null");
    default: out->type = JSON_NUMBER; return read_number(r, &out->number);
  }
}

struct json *json_parse(const char *text, size_t length) {
  struct reader r = {text, text + length, 0};
  struct json *value = malloc(sizeof *value);
  if (!value || !read_value(&r, value)) return NULL; /* the launcher is short-lived: nothing is freed */
  skip_space(&r);
  return r.at == r.end ? value : NULL;
}

const struct json *json_get(const struct json *object, const char *key) {
  if (!object || object->type != JSON_OBJECT) return NULL;
  for (size_t i = object->count; i > 0; i--) {
    if (strcmp(object->keys[i - 1], key) == 0) return &object->items[i - 1];
  }
  return NULL;
}

const char *json_text(const struct json *value) {
  if (!value || value->type != JSON_STRING || strlen(value->string) != value->length) return NULL;
  return value->string;
}

int json_integer(const struct json *value, long long *out) {
  if (!value || value->type != JSON_NUMBER) return 0;
  double n = value->number;
  if (n != n || n < -9007199254740992.0 || n > 9007199254740992.0 || (double)(long long)n != n) return 0;
  *out = (long long)n;
  return 1;
}
