/* See json-text.h. */
#include "json-text.h"

int json_hex4(const char **at, const char *end, unsigned *value) {
  if (end - *at < 4) return 0;
  *value = 0;
  for (int i = 0; i < 4; i++) {
    char c = *(*at)++;
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return 0;
    *value = *value << 4 | (unsigned)digit;
  }
  return 1;
}

size_t utf8_encode(unsigned point, unsigned char out[4]) {
  if (point < 0x80) {
    out[0] = (unsigned char)point;
    return 1;
  }
  if (point < 0x800) {
    out[0] = (unsigned char)(0xc0 | point >> 6);
    out[1] = (unsigned char)(0x80 | (point & 0x3f));
    return 2;
  }
  if (point < 0x10000) {
    out[0] = (unsigned char)(0xe0 | point >> 12);
    out[1] = (unsigned char)(0x80 | ((point >> 6) & 0x3f));
    out[2] = (unsigned char)(0x80 | (point & 0x3f));
    return 3;
  }
  out[0] = (unsigned char)(0xf0 | point >> 18);
  out[1] = (unsigned char)(0x80 | ((point >> 12) & 0x3f));
  out[2] = (unsigned char)(0x80 | ((point >> 6) & 0x3f));
  out[3] = (unsigned char)(0x80 | (point & 0x3f));
  return 4;
}
