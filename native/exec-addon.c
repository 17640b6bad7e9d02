/*
 * A Node addon with one function: replace the calling process with another program (execve),
 * keeping chosen file descriptors open. Node 20 has no process.execve; the owner process needs it
 * to become the small native monitor while keeping its pid, its children and their pipes.
 *
 *   execKeepingFds(file: string, argv: string[], env: string[] ("K=V"), keep: number[]): never
 *
 * Returns only by throwing, when execve fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *copy_string(napi_env env, napi_value value) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (!text) return NULL;
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

/* A NULL-terminated copy of a JS string array (leaked on purpose: execve replaces the process). */
static char **copy_string_array(napi_env env, napi_value array) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) return NULL;
  char **items = calloc(length + 1, sizeof(char *));
  if (!items) return NULL;
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    items[i] = copy_string(env, item);
    if (!items[i]) return NULL;
  }
  return items;
}

static napi_value exec_keeping_fds(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc != 4) {
    napi_throw_type_error(env, NULL, "execKeepingFds(file, argv, env, keepFds)");
    return NULL;
  }
  char *file = copy_string(env, args[0]);
  char **argv = copy_string_array(env, args[1]);
  char **envp = copy_string_array(env, args[2]);
  uint32_t keep_count = 0;
  if (!file || !argv || !envp || napi_get_array_length(env, args[3], &keep_count) != napi_ok) {
    napi_throw_type_error(env, NULL, "execKeepingFds: file must be a string, argv, env and keepFds arrays");
    return NULL;
  }
  for (uint32_t i = 0; i < keep_count; i++) {
    napi_value item;
    int32_t fd = -1;
    napi_get_element(env, args[3], i, &item);
    if (napi_get_value_int32(env, item, &fd) != napi_ok || fcntl(fd, F_SETFD, 0) != 0) {
      napi_throw_error(env, NULL, "execKeepingFds: a file descriptor to keep is not open");
      return NULL;
    }
  }
  /* Node blocks no signals on its main thread, but a clean mask for the new program costs nothing. */
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  execve(file, argv, envp);
  napi_throw_error(env, NULL, strerror(errno));
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "execKeepingFds", NAPI_AUTO_LENGTH, exec_keeping_fds, NULL, &fn);
  napi_set_named_property(env, exports, "execKeepingFds", fn);
  return exports;
}
