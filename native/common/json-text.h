/* The two pieces of reading a JSON string that the launcher's record reader and the monitor's
 * request reader share: a \uXXXX escape's four hex digits, and a code point written as UTF-8. */
#ifndef HEYVM_JSON_TEXT_H
#define HEYVM_JSON_TEXT_H

#include <stddef.h>

/* Reads four hex digits at *at (advancing it); 0 when fewer than four or not hex. */
int json_hex4(const char **at, const char *end, unsigned *value);

/* Writes the code point as UTF-8 into out; returns the number of bytes (1 to 4). */
size_t utf8_encode(unsigned point, unsigned char out[4]);

#endif
