/* `heyvm exec <query> [options] [--] cmd…`: the forms src/cli/commands/exec.ts takes, with the
 * options exec-options.h (generated from exec's one declaration of its options,
 * src/cli/commands/exec-options.ts) says the launcher takes: -e/--env, -w/--workdir, --cwd and
 * --cloud-url; any other option goes to Node. The command line
 * is the sandbox's exec recipe (src/backends/exec-recipe.ts) expanded with the same rules; the
 * command then runs as src/core/interactive.ts runs it: stdio inherited, SIGINT and SIGQUIT
 * ignored meanwhile, SIGTERM and SIGHUP passed on, the exit status as a shell reports it. */
#include "launcher.h"
#include "exec-options.h" /* EXEC_OPTIONS: generated from src/cli/commands/exec-options.ts */

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

struct pair {
  const char *key, *value;
};

struct pairs {
  struct pair *items;
  size_t count, size;
};

struct words {
  char **items;
  size_t count, size;
};

struct flags {
  const char *cwd, *workdir;
  struct pairs env; /* as given, in order; merged later */
};

static void push_pair(struct pairs *p, const char *key, const char *value) {
  if (p->count == p->size) {
    p->size = p->size ? p->size * 2 : 16;
    p->items = realloc(p->items, p->size * sizeof *p->items);
    if (!p->items) fall_back("out of memory");
  }
  p->items[p->count++] = (struct pair){key, value};
}

/* Sets key as a JavaScript object does: a key already there keeps its place. */
static void set_pair(struct pairs *p, const char *key, const char *value) {
  for (size_t i = 0; i < p->count; i++) {
    if (strcmp(p->items[i].key, key) == 0) {
      p->items[i].value = value;
      return;
    }
  }
  push_pair(p, key, value);
}

static void push_word(struct words *w, char *word) {
  if (w->count + 1 >= w->size) {
    w->size = w->size ? w->size * 2 : 64;
    w->items = realloc(w->items, w->size * sizeof *w->items);
    if (!w->items) fall_back("out of memory");
  }
  w->items[w->count++] = word;
  w->items[w->count] = NULL;
}

/* ---- options */

static int long_option(const char *word, const char *name, const char **inline_value) {
  size_t n = strlen(name);
  if (strncmp(word, name, n) != 0) return 0;
  if (word[n] == '\0') {
    *inline_value = NULL;
    return 1;
  }
  if (word[n] == '=') {
    *inline_value = word + n + 1;
    return 1;
  }
  return 0;
}

/* exec's option that word is (its value, if given in the same word, in *value), or NULL. */
static const struct exec_option *find_option(const char *word, const char **value) {
  for (size_t i = 0; i < EXEC_OPTION_COUNT; i++) {
    if (long_option(word, EXEC_OPTIONS[i].long_name, value)) return &EXEC_OPTIONS[i];
  }
  for (size_t i = 0; i < EXEC_OPTION_COUNT; i++) {
    const char *name = EXEC_OPTIONS[i].short_name;
    if (name && strncmp(word, name, 2) == 0) {
      *value = word[2] ? word + 2 : NULL;
      return &EXEC_OPTIONS[i];
    }
  }
  return NULL;
}

/* One of the options the launcher takes at words[*at] (bounded by end): 1 and taken, or 0. */
static int take_option(char **words, int *at, int end, struct flags *flags) {
  const char *value = NULL;
  const struct exec_option *option = find_option(words[*at], &value);
  if (!option || option->role == EXEC_ROLE_NODE) return 0; /* unknown, or Node's to answer */
  if (!value) {
    if (*at + 1 >= end || words[*at + 1][0] == '-') return 0; /* missing, or what commander makes of it is its to say */
    value = words[++*at];
  }
  (*at)++;
  switch (option->role) {
  case EXEC_ROLE_SKIP:
    return 1; /* --cloud-url: every command takes it (src/cli/main.ts takeCloudUrl); a local sandbox has no use for it */
  case EXEC_ROLE_ENV: {
    const char *eq = strchr(value, '=');
    if (!eq || eq == value) return 0; /* --env takes KEY=VALUE: Node says so */
    push_pair(&flags->env, strndup(value, (size_t)(eq - value)), eq + 1);
    return 1;
  }
  case EXEC_ROLE_WORKDIR:
  case EXEC_ROLE_CWD:
    if (!*value) return 0;
    if (option->role == EXEC_ROLE_WORKDIR) flags->workdir = value;
    else flags->cwd = value;
    return 1;
  default:
    return 0;
  }
}

/* ---- the recipe */

static int env_name(const char *key) {
  if (!((key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z') || key[0] == '_')) return 0;
  for (const char *c = key + 1; *c; c++) {
    if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return 0;
  }
  return strcmp(key, "__proto__") != 0; /* an assignment, not a property, in JavaScript */
}

static int plain_word(const char *word) {
  if (!*word) return 0;
  for (const char *c = word; *c; c++) {
    if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("_/.,:=@%+-", *c))) return 0;
  }
  return 1;
}

struct text {
  char *data;
  size_t length, size;
};

static void append(struct text *t, const char *s, size_t n) {
  if (t->length + n + 1 > t->size) {
    while (t->length + n + 1 > t->size) t->size = t->size ? t->size * 2 : 256;
    t->data = realloc(t->data, t->size);
    if (!t->data) fall_back("out of memory");
  }
  memcpy(t->data + t->length, s, n);
  t->length += n;
  t->data[t->length] = '\0';
}

static void append_text(struct text *t, const char *s) {
  append(t, s, strlen(s));
}

/* src/shared/shell-quote.ts shellQuote, appended. */
static void append_shell_quoted(struct text *t, const char *word) {
  if (plain_word(word)) {
    append_text(t, word);
    return;
  }
  append_text(t, "'");
  for (const char *c = word; *c; c++) {
    if (*c == '\'') append_text(t, "'\\''");
    else append(t, c, 1);
  }
  append_text(t, "'");
}

static int flag(const struct json *object, const char *key, int *out) {
  const struct json *value = json_get(object, key);
  if (!value || (value->type != JSON_TRUE && value->type != JSON_FALSE)) return 0;
  *out = value->type == JSON_TRUE;
  return 1;
}

/* One part of a joined word (ExecPart in exec-recipe.ts); 0 when the launcher does not know it. */
static int expand_part(const struct json *part, struct text *t, const char *cwd, const struct pairs *env, char **argv, int argc) {
  const char *literal = json_text(part);
  if (literal) {
    append_text(t, literal);
    return 1;
  }
  const char *value = json_text(json_get(part, "value"));
  const struct json *env_part = json_get(part, "env"), *argv_part = json_get(part, "argv");
  int quote;
  if (value && strcmp(value, "cwd") == 0 && flag(part, "quote", &quote)) {
    if (quote) append_shell_quoted(t, cwd);
    else append_text(t, cwd);
    return 1;
  }
  if (value && strcmp(value, "envCount") == 0) {
    char count[32];
    snprintf(count, sizeof count, "%zu", env->count);
    append_text(t, count);
    return 1;
  }
  if (env_part) {
    const char *prefix = json_text(json_get(env_part, "prefix")), *separator = json_text(json_get(env_part, "separator")),
               *suffix = json_text(json_get(env_part, "suffix"));
    if (!prefix || !separator || !suffix || !flag(env_part, "quote", &quote)) return 0;
    if (env->count == 0) return 1;
    append_text(t, prefix);
    for (size_t i = 0; i < env->count; i++) {
      if (i > 0) append_text(t, separator);
      append_text(t, env->items[i].key);
      append_text(t, "=");
      if (quote) append_shell_quoted(t, env->items[i].value);
      else append_text(t, env->items[i].value);
    }
    append_text(t, suffix);
    return 1;
  }
  if (argv_part) {
    const char *separator = json_text(json_get(argv_part, "separator"));
    if (!separator) return 0;
    for (int i = 0; i < argc; i++) {
      if (i > 0) append_text(t, separator);
      append_shell_quoted(t, argv[i]);
    }
    return 1;
  }
  return 0;
}

static char *pair_word(const struct pair *p) {
  struct text t = {0};
  append_text(&t, p->key);
  append_text(&t, "=");
  append_text(&t, p->value);
  return t.data;
}

/* The recipe's argument template (ExecWord in exec-recipe.ts) expanded into out. */
static void expand_args(const struct json *args, struct words *out, const char *cwd, const struct pairs *env, char **argv, int argc) {
  if (!args || args->type != JSON_ARRAY) fall_back("a recipe without arguments");
  for (size_t i = 0; i < args->count; i++) {
    const struct json *word = &args->items[i];
    const char *literal = json_text(word);
    const char *each = json_text(json_get(word, "each"));
    const struct json *join = json_get(word, "join");
    if (literal) {
      push_word(out, (char *)literal);
    } else if (each && strcmp(each, "argv") == 0) {
      for (int a = 0; a < argc; a++) push_word(out, argv[a]);
    } else if (each && strcmp(each, "env") == 0) {
      for (size_t e = 0; e < env->count; e++) push_word(out, pair_word(&env->items[e]));
    } else if (join && join->type == JSON_ARRAY) {
      struct text t = {0};
      append(&t, "", 0);
      for (size_t p = 0; p < join->count; p++) {
        if (!expand_part(&join->items[p], &t, cwd, env, argv, argc)) fall_back("a recipe part this launcher does not know");
      }
      push_word(out, t.data);
    } else {
      fall_back("a recipe word this launcher does not know");
    }
  }
}

/* The environment as Node would pass it: the caller's (checked to read back unchanged), or the recipe's. */
static char **environment(const struct json *recipe_env, const char **path) {
  struct words out = {0};
  push_word(&out, NULL);
  out.count = 0;
  if (!recipe_env || recipe_env->type == JSON_NULL) {
    for (char **entry = environ; *entry; entry++) {
      const char *eq = strchr(*entry, '=');
      if (!eq || eq == *entry || (**entry >= '0' && **entry <= '9') || !valid_utf8(*entry, strlen(*entry))) fall_back("an environment entry Node would change");
      for (char **earlier = environ; earlier < entry; earlier++) {
        if (strncmp(*earlier, *entry, (size_t)(eq - *entry) + 1) == 0) fall_back("an environment variable set twice");
      }
    }
    *path = getenv("PATH");
    return environ;
  }
  const struct json *set = json_get(recipe_env, "set"), *pass = json_get(recipe_env, "pass");
  if (!set || set->type != JSON_ARRAY || !pass || pass->type != JSON_ARRAY) fall_back("a recipe environment this launcher does not know");
  struct pairs env = {0};
  for (size_t i = 0; i < set->count; i++) {
    const struct json *item = &set->items[i];
    const char *key = item->type == JSON_ARRAY && item->count == 2 ? json_text(&item->items[0]) : NULL;
    const char *value = key ? json_text(&item->items[1]) : NULL;
    if (!key || !value || !env_name(key)) fall_back("a recipe environment this launcher does not know");
    for (size_t j = 0; j < env.count; j++) {
      if (strcmp(env.items[j].key, key) == 0) fall_back("a recipe variable set twice");
    }
    push_pair(&env, key, value);
  }
  for (size_t i = 0; i < pass->count; i++) {
    const char *key = json_text(&pass->items[i]);
    if (!key || !env_name(key)) fall_back("a recipe environment this launcher does not know");
    for (size_t j = 0; j < env.count; j++) {
      if (strcmp(env.items[j].key, key) == 0) fall_back("a recipe variable set twice");
    }
    const char *value = getenv(key);
    if (!value || !*value) continue;
    if (!valid_utf8(value, strlen(value))) fall_back("a passed-through variable Node would change");
    push_pair(&env, key, value);
  }
  *path = NULL;
  for (size_t i = 0; i < env.count; i++) {
    push_word(&out, pair_word(&env.items[i]));
    if (strcmp(env.items[i].key, "PATH") == 0) *path = env.items[i].value;
  }
  return out.items;
}

/* The program to run: heyvm's own lookup (findExecutable) when the recipe says so, else spawn's. */
static char *program(const struct json *exec_recipe, const char *child_path) {
  const char *file = json_text(json_get(exec_recipe, "program")), *why = "";
  const struct json *lookup = json_get(exec_recipe, "lookup");
  if (!file) fall_back("a recipe without a program");
  char *found;
  if (lookup && lookup->type == JSON_OBJECT) {
    const char *name = json_text(json_get(lookup, "name")), *extra = json_text(json_get(lookup, "extraPath"));
    const char *caller = getenv("PATH");
    if (!name || !extra || (caller && !valid_utf8(caller, strlen(caller)))) fall_back("a recipe lookup this launcher does not know");
    struct text path = {0};
    append_text(&path, caller ? caller : "");
    append_text(&path, ":");
    append_text(&path, extra);
    found = find_executable(name, path.data, &why);
  } else if (strchr(file, '/')) {
    found = find_executable(file, "", &why);
  } else {
    if (!child_path) fall_back("no PATH to find the program on");
    found = find_executable(file, child_path, &why);
  }
  if (!found) fall_back(why);
  return found;
}

/* The machine's processes the backend checked when it made the recipe, still the same ones. */
static void check_processes(const struct json *checks) {
  if (!checks || checks->type != JSON_ARRAY) fall_back("a recipe without its checks");
  for (size_t i = 0; i < checks->count; i++) {
    long long pid;
    const char *start = json_text(json_get(&checks->items[i], "startTime"));
    if (!json_integer(json_get(&checks->items[i], "pid"), &pid) || !start) fall_back("a recipe check this launcher does not know");
    char *actual = process_start_time(pid);
    if (!actual || strcmp(actual, start) != 0) fall_back("the sandbox's machine is not the recorded one");
    free(actual);
  }
}

/* ---- running it */

/* What Node saves of fds 0-2 at start and puts back at exit (node.cc ResetStdio). */
struct stdio_state {
  struct stat stat;
  int ok, flags, tty;
  struct termios termios;
};

static struct stdio_state stdio_state[3];
static volatile sig_atomic_t child_pid;

static void save_stdio(void) {
  for (int fd = 0; fd < 3; fd++) {
    struct stdio_state *s = &stdio_state[fd];
    s->ok = fstat(fd, &s->stat) == 0;
    s->flags = fcntl(fd, F_GETFL);
    s->tty = isatty(fd) && tcgetattr(fd, &s->termios) == 0;
  }
}

static void reset_stdio(void) {
  for (int fd = 0; fd < 3; fd++) {
    struct stdio_state *s = &stdio_state[fd];
    struct stat now;
    if (!s->ok || fstat(fd, &now) != 0 || now.st_dev != s->stat.st_dev || now.st_ino != s->stat.st_ino) continue;
    int flags = fcntl(fd, F_GETFL);
    if (flags != -1 && s->flags != -1 && ((flags ^ s->flags) & O_NONBLOCK)) fcntl(fd, F_SETFL, (flags & ~O_NONBLOCK) | (s->flags & O_NONBLOCK));
    if (s->tty) {
      sigset_t block;
      sigemptyset(&block);
      sigaddset(&block, SIGTTOU);
      sigprocmask(SIG_BLOCK, &block, NULL);
      while (tcsetattr(fd, TCSANOW, &s->termios) == -1 && errno == EINTR) {}
      sigprocmask(SIG_UNBLOCK, &block, NULL);
    }
  }
}

/* node.cc PlatformInit: the soft open-files limit raised to the hard one (children inherit it). */
static void raise_open_files_limit(void) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == lim.rlim_max) return;
  rlim_t min = lim.rlim_cur, max = 1 << 20;
  if (lim.rlim_max != RLIM_INFINITY) min = max = lim.rlim_max;
  do {
    lim.rlim_cur = min + (max - min) / 2;
    if (setrlimit(RLIMIT_NOFILE, &lim)) max = lim.rlim_cur;
    else min = lim.rlim_cur;
  } while (min + 1 < max);
}

static void ignore_signal(int signal) {
  (void)signal;
}

static void forward_signal(int signal) {
  if (child_pid > 0) kill((pid_t)child_pid, signal);
}

static void handle(int signal, void (*handler)(int)) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, NULL);
}

static int run(const char *file, char **argv, char **envp) {
  posix_spawnattr_t attr;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigdefault(&attr, &all); /* libuv resets every disposition and the mask in the child */
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  handle(SIGINT, ignore_signal);
  handle(SIGQUIT, ignore_signal);
  handle(SIGTERM, forward_signal);
  handle(SIGHUP, forward_signal);
  /* held until the child's pid is known: one arriving meanwhile is passed on, not lost */
  sigset_t forwarded, before;
  sigemptyset(&forwarded);
  sigaddset(&forwarded, SIGTERM);
  sigaddset(&forwarded, SIGHUP);
  sigprocmask(SIG_BLOCK, &forwarded, &before);
  pid_t pid;
  int error = posix_spawn(&pid, file, NULL, &attr, argv, envp);
  if (error == 0) child_pid = pid;
  sigprocmask(SIG_SETMASK, &before, NULL);
  if (error != 0) {
    for (int s = 0; s < 4; s++) signal((int[]){SIGINT, SIGQUIT, SIGTERM, SIGHUP}[s], SIG_DFL);
    fall_back("the program could not be started");
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int run_exec(int argc, char **argv) {
  struct flags before = {0}, between = {0};
  int at = 0;
  while (at < argc && argv[at][0] == '-') {
    if (!take_option(argv, &at, argc, &before)) fall_back("an exec option the launcher does not take");
  }
  if (at >= argc) fall_back("no sandbox given");
  const char *query = argv[at++];
  int separator = -1;
  for (int i = at; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      separator = i;
      break;
    }
  }
  if (separator >= 0) {
    while (at < separator) {
      if (!take_option(argv, &at, separator, &between)) fall_back("a word before -- that is not an option the launcher takes");
    }
    at = separator + 1;
  }
  char **command = argv + at;
  int command_count = argc - at;
  if (command_count == 0) fall_back("no command given");
  if (!*query || !printable_ascii(query)) fall_back("a sandbox query that is not plain ASCII");
  if (strncasecmp(query, "dep-", 4) == 0) fall_back("a cloud sandbox");
  for (int i = 0; i < command_count; i++) {
    if (!valid_utf8(command[i], strlen(command[i]))) fall_back("a command word Node would change");
  }

  char *home = heyo_home();
  if (!home) fall_back("HEYO_HOME is not a plain absolute path");
  const char *why = "";
  char *id = resolve_query(home, query, &why);
  if (!id) fall_back(why);
  struct launch_record record;
  if (!load_record(home, id, &record, &why)) fall_back(why);
  if (!record.exec) fall_back("the launch record has no exec recipe");
  const struct json *recipe = json_get(record.exec, "recipe");
  if (!recipe || recipe->type != JSON_OBJECT) fall_back("the launch record has no exec recipe");

  /* core/attach.ts withSandboxDefaults, then the backend's own default folder */
  const char *given_cwd = between.cwd ? between.cwd : before.cwd;
  if (!given_cwd) given_cwd = between.workdir ? between.workdir : before.workdir;
  const struct json *default_cwd = json_get(record.exec, "cwd");
  const char *cwd = given_cwd;
  if (!cwd && default_cwd && default_cwd->type != JSON_NULL) cwd = json_text(default_cwd);
  if (!cwd) cwd = json_text(json_get(recipe, "cwd"));
  if (!cwd || !valid_utf8(cwd, strlen(cwd))) fall_back("no folder to run in");
  struct pairs env = {0};
  const struct json *defaults = json_get(record.exec, "env");
  if (!defaults || defaults->type != JSON_ARRAY) fall_back("the launch record has no sandbox variables");
  for (size_t i = 0; i < defaults->count; i++) {
    const struct json *item = &defaults->items[i];
    const char *key = item->type == JSON_ARRAY && item->count == 2 ? json_text(&item->items[0]) : NULL;
    const char *value = key ? json_text(&item->items[1]) : NULL;
    if (!key || !value) fall_back("sandbox variables this launcher does not know");
    set_pair(&env, key, value);
  }
  for (struct flags *f = &before; f; f = f == &before ? &between : NULL) {
    for (size_t i = 0; i < f->env.count; i++) set_pair(&env, f->env.items[i].key, f->env.items[i].value);
  }
  for (size_t i = 0; i < env.count; i++) {
    if (!env_name(env.items[i].key)) fall_back("a variable name only Node judges");
    if (!valid_utf8(env.items[i].value, strlen(env.items[i].value))) fall_back("a variable value Node would change");
  }

  check_processes(json_get(recipe, "checks"));
  const char *child_path = NULL;
  char **envp = environment(json_get(recipe, "env"), &child_path);
  char *file = program(recipe, child_path);
  struct words words = {0};
  push_word(&words, file);
  expand_args(json_get(recipe, "args"), &words, cwd, &env, command, command_count);

  trace("native", "exec");
  save_stdio();
  raise_open_files_limit();
  int code = run(file, words.items, envp);
  reset_stdio();
  return code;
}
