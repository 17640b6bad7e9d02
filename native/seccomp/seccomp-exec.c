/*
 * heyvm-seccomp -- PROGRAM [ARGS...]
 *
 * Installs heyvm's seccomp filter (the refusals declared in src/backends/seccomp-policy.ts,
 * compiled in as rules.h) on itself and execs PROGRAM: everything it and its descendants do
 * afterwards is filtered, and no process can remove the filter. heyvm runs every sandbox's
 * processes (bubblewrap's boot, exec and shell) and the host helpers that write for a sandbox
 * (virtiofsd, the firecracker sftp-server) through it. Everything not listed is allowed.
 * The filter covers the native architecture and, on x86_64, the i386 and x32 ABIs too, so a
 * 32-bit call cannot go around it.
 */
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/seccomp-rule.h"

#include "rules.h"

static int add_rule(scmp_filter_ctx ctx, const struct heyvm_rule *rule) {
  int nr = seccomp_syscall_resolve_name(rule->syscall);
  if (nr == __NR_SCMP_ERROR) nr = rule->number;
  if (nr < 0) {
    fprintf(stderr, "heyvm-seccomp: note: %s is unknown here; not filtered\n", rule->syscall);
    return 0;
  }
  if (rule->arg < 0) return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rule->err), nr, 0);
  return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rule->err), nr, 1, SCMP_CMP(rule->arg, SCMP_CMP_MASKED_EQ, rule->mask, rule->value));
}

int main(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) {
    fprintf(stderr, "usage: heyvm-seccomp -- PROGRAM [ARGS...]\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    fprintf(stderr, "heyvm-seccomp: seccomp_init failed\n");
    return 1;
  }
  if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
    /* the other ABIs of this kernel, filtered by the same rules (absent ones are skipped) */
    seccomp_arch_add(ctx, SCMP_ARCH_X86);
    seccomp_arch_add(ctx, SCMP_ARCH_X32);
  }
  for (size_t i = 0; i < sizeof HEYVM_RULES / sizeof HEYVM_RULES[0]; i++) {
    int rc = add_rule(ctx, &HEYVM_RULES[i]);
    if (rc < 0) {
      fprintf(stderr, "heyvm-seccomp: cannot add the rule for %s: %s\n", HEYVM_RULES[i].syscall, strerror(-rc));
      seccomp_release(ctx);
      return 1;
    }
  }
  /* libseccomp sets no_new_privs first (SCMP_FLTATR_CTL_NNP), so no setuid program gains rights either */
  int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc < 0) {
    fprintf(stderr, "heyvm-seccomp: cannot load the filter: %s\n", strerror(-rc));
    return 1;
  }
  execvp(argv[2], argv + 2);
  fprintf(stderr, "heyvm-seccomp: cannot run %s: %s\n", argv[2], strerror(errno));
  return 127;
}
