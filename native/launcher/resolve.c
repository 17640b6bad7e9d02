/* What a query names, as src/core/catalog.ts resolveSandbox decides it: an exact id first, then a
 * name, then a branch, then a unique id prefix — across every sandbox, stopped ones too. Names and
 * branches come from HEYO_HOME/catalog.keys (written with the catalog index, state/catalog-index.ts),
 * trusted only when no record changed since (no changed/ markers) and it lists every folder. Any
 * answer other than exactly one sandbox goes to Node, which says what is wrong. */
#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>


struct key {
  char *id, *name, *branch; /* name NULL: a folder without readable records (an `X` line) */
};

struct names {
  char **items;
  size_t count, size;
};

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_keys(const void *a, const void *b) {
  return strcmp(((const struct key *)a)->id, ((const struct key *)b)->id);
}

/* The sb-… entries of a folder (state/catalog-index.ts listNames); -1 when it cannot be read. */
static int list_ids(const char *path, struct names *out) {
  memset(out, 0, sizeof *out);
  DIR *dir = opendir(path);
  if (!dir) return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  struct dirent *entry;
  while ((entry = readdir(dir))) {
    if (strncmp(entry->d_name, "sb-", 3) != 0) continue;
    if (out->count == out->size) {
      out->size = out->size ? out->size * 2 : 64;
      out->items = realloc(out->items, out->size * sizeof *out->items);
      if (!out->items) {
        closedir(dir);
        return -1;
      }
    }
    out->items[out->count++] = strdup(entry->d_name);
  }
  closedir(dir);
  qsort(out->items, out->count, sizeof *out->items, compare_names);
  return 0;
}

static int read_keys(const char *home, struct key **out, size_t *count) {
  struct bytes text;
  char *path = path_join(home, "catalog.keys");
  int failed = read_file(path, &text);
  free(path);
  if (failed) return 0;
  size_t header = strlen(KEYS_HEADER);
  if (text.length < header + 1 || memcmp(text.data, KEYS_HEADER "\n", header + 1) != 0) return 0;
  size_t size = 64, n = 0;
  struct key *keys = malloc(size * sizeof *keys);
  for (char *line = text.data + header + 1; *line;) {
    char *newline = strchr(line, '\n');
    if (!newline) return 0; /* torn */
    *newline = '\0';
    if (n == size) {
      size *= 2;
      keys = realloc(keys, size * sizeof *keys);
    }
    if (!keys) return 0;
    char *fields[4] = {0};
    int found = 0;
    for (char *field = line; found < 4; found++) {
      fields[found] = field;
      char *tab = strchr(field, '\t');
      if (!tab) {
        found++;
        break;
      }
      *tab = '\0';
      field = tab + 1;
    }
    if (found == 4 && strcmp(fields[0], "S") == 0) keys[n++] = (struct key){fields[1], fields[2], fields[3]};
    else if (found == 2 && strcmp(fields[0], "X") == 0) keys[n++] = (struct key){fields[1], NULL, NULL};
    else return 0;
    line = newline + 1;
  }
  qsort(keys, n, sizeof *keys, compare_keys);
  *out = keys;
  *count = n;
  return 1;
}

static int exact_id(const char *query) {
  if (strlen(query) != 11 || strncmp(query, "sb-", 3) != 0) return 0;
  for (int i = 3; i < 11; i++) {
    if (!((query[i] >= '0' && query[i] <= '9') || (query[i] >= 'a' && query[i] <= 'f'))) return 0;
  }
  return 1;
}

static int starts_with(const char *text, const char *prefix) {
  return strncmp(text, prefix, strlen(prefix)) == 0;
}

char *resolve_query(const char *home, const char *query, const char **why) {
  if (exact_id(query) && !spec_absent(home, query)) return strdup(query); /* its record proves the spec readable */
  struct names ids, changed;
  char *sandboxes = path_join(home, "sandboxes"), *markers = path_join(home, "changed");
  if (list_ids(markers, &changed) != 0 || changed.count > 0) {
    *why = "records changed since the catalog index was written";
    return NULL;
  }
  if (list_ids(sandboxes, &ids) != 0) {
    *why = "sandboxes/ cannot be read";
    return NULL;
  }
  struct key *keys;
  size_t key_count;
  if (!read_keys(home, &keys, &key_count)) {
    *why = "no usable catalog.keys";
    return NULL;
  }
  struct key **entries = malloc((ids.count + 1) * sizeof *entries);
  size_t entry_count = 0;
  for (size_t i = 0; i < ids.count; i++) {
    struct key wanted = {ids.items[i], NULL, NULL};
    struct key *key = bsearch(&wanted, keys, key_count, sizeof *keys, compare_keys);
    if (!key) {
      *why = "catalog.keys does not list every sandbox";
      return NULL;
    }
    if (key->name) entries[entry_count++] = key;
    else if (!spec_absent(home, key->id)) {
      *why = "a sandbox folder whose records only Node can read";
      return NULL;
    }
  }
  char *prefixed = malloc(strlen(query) + 4);
  strcpy(prefixed, "sb-");
  strcat(prefixed, query);
  for (int tier = 0; tier < 3; tier++) {
    struct key *match = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < entry_count; i++) {
      const struct key *e = entries[i];
      int hit = tier == 0 ? strcmp(e->name, query) == 0
              : tier == 1 ? strcmp(e->branch, query) == 0
                          : strlen(query) >= 2 && (starts_with(e->id, query) || starts_with(e->id, prefixed));
      if (hit) {
        matches++;
        match = entries[i];
      }
    }
    if (matches == 1) return strdup(match->id);
    if (matches > 1) {
      *why = "the query matches several sandboxes";
      return NULL;
    }
  }
  *why = "no sandbox matches the query";
  return NULL;
}
