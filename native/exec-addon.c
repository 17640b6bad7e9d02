/*
 * A Node addon that lets the owner process become heyvm's native owner monitor. Node 20 has no
 * process.execve; the owner needs it to keep its pid, its children and their pipes.
 *
 *   holdSignals(): void      blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD on this thread: from
 *                            here on they stay pending, survive execve, and the monitor reads
 *                            them from its signalfd instead of losing them in Node's queue
 *   releaseSignals(): void   restores the mask from before holdSignals (the hand-over is off)
 *   execKeepingFds(file: string, argv: string[], env: string[] ("K=V"), keep: number[]): never
 *                            execve, with close-on-exec cleared on the fds to keep; on failure
 *                            the flags are put back and it throws
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_KEEP 64

static sigset_t saved_mask;
static int holding;

static char *copy_string(napi_env env, napi_value value) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (!text) return NULL;
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

static void free_strings(char **items) {
  if (!items) return;
  for (char **item = items; *item; item++) free(*item);
  free(items);
}

/* A NULL-terminated copy of a JS string array. */
static char **copy_string_array(napi_env env, napi_value array) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) return NULL;
  char **items = calloc(length + 1, sizeof(char *));
  if (!items) return NULL;
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    items[i] = copy_string(env, item);
    if (!items[i]) {
      free_strings(items);
      return NULL;
    }
  }
  return items;
}

static napi_value hold_signals(napi_env env, napi_callback_info info) {
  (void)info;
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  sigaddset(&stop_signals, SIGCHLD);
  if (!holding) pthread_sigmask(SIG_BLOCK, &stop_signals, &saved_mask);
  holding = 1;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

static napi_value release_signals(napi_env env, napi_callback_info info) {
  (void)info;
  if (holding) pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
  holding = 0;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
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
  if (!file || !argv || !envp || napi_get_array_length(env, args[3], &keep_count) != napi_ok || keep_count > MAX_KEEP) {
    free(file);
    free_strings(argv);
    free_strings(envp);
    napi_throw_type_error(env, NULL, "execKeepingFds: file must be a string; argv, env and keepFds arrays (at most 64 fds)");
    return NULL;
  }
  int fds[MAX_KEEP], old_flags[MAX_KEEP];
  uint32_t cleared = 0;
  const char *problem = NULL;
  for (uint32_t i = 0; i < keep_count && !problem; i++) {
    napi_value item;
    int32_t fd = -1;
    napi_get_element(env, args[3], i, &item);
    int flags = napi_get_value_int32(env, item, &fd) == napi_ok ? fcntl(fd, F_GETFD) : -1;
    if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) {
      problem = "execKeepingFds: a file descriptor to keep is not open";
    } else {
      fds[cleared] = fd;
      old_flags[cleared++] = flags;
    }
  }
  if (!problem) {
    execve(file, argv, envp);
    problem = strerror(errno);
  }
  for (uint32_t i = 0; i < cleared; i++) fcntl(fds[i], F_SETFD, old_flags[i]); /* the fallback owner's children must not inherit them */
  free(file);
  free_strings(argv);
  free_strings(envp);
  napi_throw_error(env, NULL, problem);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  static const struct { const char *name; napi_callback callback; } functions[] = {
      {"holdSignals", hold_signals},
      {"releaseSignals", release_signals},
      {"execKeepingFds", exec_keeping_fds},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].callback, NULL, &fn);
    napi_set_named_property(env, exports, functions[i].name, fn);
  }
  return exports;
}
