/* One refusal of heyvm's seccomp policy (src/backends/seccomp-policy.ts), as the generated
 * headers spell it: shared by the seccomp wrapper and the name guard. */
#ifndef HEYVM_SECCOMP_RULE_H
#define HEYVM_SECCOMP_RULE_H

struct heyvm_rule {
  const char *syscall;
  int number; /* used when libseccomp does not know the name; -1: none */
  int arg;    /* -1: unconditional */
  unsigned long long mask;
  unsigned long long value;
  int err;
};

#endif
