/* A sandbox's launch record (sandboxes/<id>/launch.json, written by src/core/launch-record.ts once
 * the sandbox is ready). It is used only while sandbox.json and owner.json still read exactly as
 * when it was made, and only while that owner lives (state/status.ts processStatus: running). */
#include "launcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


static char *sandbox_file(const char *home, const char *id, const char *name) {
  char *sandboxes = path_join(home, "sandboxes");
  char *dir = path_join(sandboxes, id);
  char *path = path_join(dir, name);
  free(sandboxes);
  free(dir);
  return path;
}

/* True when the file holds exactly text. */
static int reads_as(const char *path, const struct json *text) {
  struct bytes bytes;
  if (!text || text->type != JSON_STRING || read_file(path, &bytes) != 0) return 0;
  return bytes.length == text->length && memcmp(bytes.data, text->string, text->length) == 0;
}

/* A string or null (the recorded liveness facts); 0 when it is neither. */
static int text_or_null(const struct json *value, const char **out) {
  if (value && value->type == JSON_NULL) {
    *out = NULL;
    return 1;
  }
  *out = json_text(value);
  return *out != NULL;
}

int load_record(const char *home, const char *id, struct launch_record *out, const char **why) {
  struct bytes text;
  long long version, pid;
  const char *start_time, *boot_id;
  char *path = sandbox_file(home, id, "launch.json");
  if (read_file(path, &text) != 0) {
    *why = "no launch record";
    return 0;
  }
  const struct json *root = json_parse(text.data, text.length);
  if (!root || !json_integer(json_get(root, "version"), &version) || version != LAUNCH_RECORD_VERSION) {
    *why = "a launch record of another version";
    return 0;
  }
  const struct json *owner = json_get(root, "owner");
  if (!json_integer(json_get(owner, "pid"), &pid) || !text_or_null(json_get(owner, "startTime"), &start_time) ||
      !text_or_null(json_get(owner, "bootId"), &boot_id)) {
    *why = "a launch record without the owner's facts";
    return 0;
  }
  if (!reads_as(sandbox_file(home, id, "sandbox.json"), json_get(root, "specText"))) {
    *why = "sandbox.json changed since the launch record";
    return 0;
  }
  if (!reads_as(sandbox_file(home, id, "owner.json"), json_get(root, "ownerText"))) {
    *why = "owner.json changed since the launch record";
    return 0;
  }
  if (!is_same_process(pid, start_time, boot_id)) {
    *why = "the owner is not running";
    return 0;
  }
  const struct json *exec = json_get(root, "exec");
  out->root = root;
  out->exec = exec && exec->type == JSON_OBJECT ? exec : NULL;
  out->list = json_get(root, "list");
  return 1;
}

int spec_absent(const char *home, const char *id) {
  struct stat info;
  char *path = sandbox_file(home, id, "sandbox.json");
  int absent = stat(path, &info) != 0 && (errno == ENOENT || errno == ENOTDIR);
  free(path);
  return absent;
}
