/* heyvm's native launcher: answers the canonical hot forms (`exec <query> [options] [--] cmd…`,
 * `list [--json]`, `--version`) from what the owner wrote in TypeScript (src/core/launch-record.ts,
 * the catalog's keys file), and hands every other form, every error and every doubt to the Node
 * CLI, which then answers exactly as it always does. It knows no backend: exec runs a recipe. */
#ifndef HEYVM_LAUNCHER_H
#define HEYVM_LAUNCHER_H

#include <stddef.h>

#include "constants.h" /* KEYS_HEADER, LAUNCH_RECORD_VERSION, STATUS_TIMEOUT_MS…: generated from the TypeScript */

/* ---- json.c: a strict JSON reader (what JSON.parse accepts, lone surrogates refused). */
enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
  enum json_type type;
  double number;
  char *string; /* JSON_STRING: UTF-8, NUL-terminated; length counts any NUL inside */
  size_t length;
  struct json *items; /* JSON_ARRAY and JSON_OBJECT: count values (and keys for objects) */
  char **keys;
  size_t count;
};

struct json *json_parse(const char *text, size_t length);
/* The value of key in an object (the last one, as JSON.parse keeps); NULL when absent. */
const struct json *json_get(const struct json *object, const char *key);
/* A string without NUL inside, or NULL. */
const char *json_text(const struct json *value);
/* An integral number within ±2^53, or 0. */
int json_integer(const struct json *value, long long *out);

/* ---- files.c */
struct bytes {
  char *data; /* NUL-terminated */
  size_t length;
};

/* 0, or -1 with errno set. */
int read_file(const char *path, struct bytes *out);
char *path_join(const char *dir, const char *name);
/* HEYO_HOME as state/home.ts resolves it, or NULL when the launcher cannot be sure of it. */
char *heyo_home(void);
/* True when text is valid UTF-8 (no surrogates, no overlong forms): what Node reads back unchanged. */
int valid_utf8(const char *text, size_t length);
/* True when every byte is printable ASCII (0x20..0x7e). */
int printable_ascii(const char *text);
/* All of it to stdout, as cli/io.ts fdOutput writes (waits on a full pipe, stops on EPIPE). */
void write_out(const char *text, size_t length);
/* Node's findExecutable: the first dir of path (a PATH value) holding an executable name. */
char *find_executable(const char *name, const char *path, const char **why);

/* ---- liveness.c: state/liveness.ts in C. */
const char *current_boot_id(void);
/* The start time field of /proc/<pid>/stat, or NULL when gone or a zombie. */
char *process_start_time(long long pid);
int is_same_process(long long pid, const char *start_time, const char *boot_id);

/* ---- record.c: a sandbox's launch record, checked against its files and its owner's liveness. */
struct launch_record {
  const struct json *root;
  const struct json *exec; /* NULL: exec goes to Node */
  const struct json *list;
};

/* 1: usable (the owner is alive and running); 0: not (why says so). */
int load_record(const char *home, const char *id, struct launch_record *out, const char **why);
/* True when sandboxes/<id>/sandbox.json does not exist (state/records.ts readSpec reads nothing). */
int spec_absent(const char *home, const char *id);

/* ---- resolve.c: core/catalog.ts resolveSandbox, from the keys file. */
/* The sandbox id the query names (malloc'd), or NULL when Node must answer. */
char *resolve_query(const char *home, const char *query, const char **why);

/* ---- exec.c, list.c: the two commands; each returns the exit code or falls back. */
int run_exec(int argc, char **argv);
int run_list(int argc, char **argv);

/* ---- fall-back.c */
/* What fall_back runs: node <entry> <heyvm argv…> (set once, by main). */
void set_node_command(char *entry, int argc, char **argv);
/* Hands the whole command line to the Node CLI (never returns). */
_Noreturn void fall_back(const char *why);
/* With HEYVM_LAUNCHER_TRACE=<file>, one line saying who answered (for the conformance test). */
void trace(const char *what, const char *detail);

#endif
