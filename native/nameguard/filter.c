#define _GNU_SOURCE
/* The guard's seccomp program: the calls that can create, rename, remove or write a name go to
 * the supervisor (SCMP_ACT_NOTIFY), opens only when their flags can write; the refusals that keep
 * the sandbox from making a user namespace of its own (where it could mount around the guard)
 * answer an errno. Built with libseccomp from the generated tables, on every x86 ABI. */
#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nameguard.h"
#include "nameguard-rules.h"

static int resolve(const char *name, int number) {
  int nr = seccomp_syscall_resolve_name(name);
  return nr == __NR_SCMP_ERROR ? number : nr;
}

static int add_guarded(scmp_filter_ctx ctx, const struct heyvm_guarded *call) {
  int nr = resolve(call->syscall, call->number);
  if (nr < 0) return 0; /* unknown on this libseccomp: the kernel has no such call either */
  if (call->flags_arg < 0) return seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 0);
  for (size_t i = 0; i < sizeof HEYVM_GUARD_WRITE_FLAGS / sizeof HEYVM_GUARD_WRITE_FLAGS[0]; i++) {
    unsigned long long bit = HEYVM_GUARD_WRITE_FLAGS[i];
    int rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 1, SCMP_CMP((unsigned)call->flags_arg, SCMP_CMP_MASKED_EQ, bit, bit));
    if (rc < 0) return rc;
  }
  return 0;
}

static int add_refusal(scmp_filter_ctx ctx, const struct heyvm_rule *rule) {
  int nr = resolve(rule->syscall, rule->number);
  if (nr < 0) return 0;
  if (rule->arg < 0) return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rule->err), nr, 0);
  return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rule->err), nr, 1, SCMP_CMP((unsigned)rule->arg, SCMP_CMP_MASKED_EQ, rule->mask, rule->value));
}

/* The rules on one context; on the compat ABIs a call libseccomp cannot name there is skipped (its
 * number is only known for the native ABI: a call newer than the library). */
static int add_all(scmp_filter_ctx ctx, int compat) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof HEYVM_GUARDED / sizeof HEYVM_GUARDED[0]; i++) {
    rc = add_guarded(ctx, &HEYVM_GUARDED[i]);
    if (rc == -EFAULT && compat && seccomp_syscall_resolve_name(HEYVM_GUARDED[i].syscall) == __NR_SCMP_ERROR) rc = 0;
  }
  for (size_t i = 0; rc == 0 && i < sizeof HEYVM_GUARD_RULES / sizeof HEYVM_GUARD_RULES[0]; i++) {
    rc = add_refusal(ctx, &HEYVM_GUARD_RULES[i]);
    if (rc == -EFAULT && compat && seccomp_syscall_resolve_name(HEYVM_GUARD_RULES[i].syscall) == __NR_SCMP_ERROR) rc = 0;
  }
  return rc;
}

struct sock_filter *guard_program(unsigned short *len) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    fprintf(stderr, "heyvm-nameguard: seccomp_init failed\n");
    return NULL;
  }
  /* loading is done by install_program, which sets no_new_privs itself */
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  int rc = add_all(ctx, 0);
  if (rc == 0 && seccomp_arch_native() == SCMP_ARCH_X86_64) {
    /* the other ABIs of this kernel (a 64-bit process can make 32-bit calls), merged in */
    scmp_filter_ctx compat = seccomp_init(SCMP_ACT_ALLOW);
    if (!compat) rc = -ENOMEM;
    else {
      seccomp_attr_set(compat, SCMP_FLTATR_CTL_NNP, 0);
      rc = seccomp_arch_add(compat, SCMP_ARCH_X86);
      if (rc == 0) rc = seccomp_arch_add(compat, SCMP_ARCH_X32);
      if (rc == 0) rc = seccomp_arch_remove(compat, SCMP_ARCH_NATIVE);
      if (rc == 0) rc = add_all(compat, 1);
      if (rc == 0) rc = seccomp_merge(ctx, compat); /* takes compat */
      else seccomp_release(compat);
    }
  }
  struct sock_filter *prog = NULL;
  if (rc == 0) {
    int fd = memfd_create("heyvm-nameguard-bpf", MFD_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (rc = seccomp_export_bpf(ctx, fd)) == 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
        (size_t)st.st_size % sizeof(struct sock_filter) == 0 && st.st_size / sizeof(struct sock_filter) <= BPF_MAXINSNS) {
      prog = malloc((size_t)st.st_size);
      if (prog && pread(fd, prog, (size_t)st.st_size, 0) == st.st_size) {
        *len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
      } else {
        free(prog);
        prog = NULL;
      }
    }
    if (fd >= 0) close(fd);
  }
  if (!prog) fprintf(stderr, "heyvm-nameguard: cannot build the filter: %s\n", strerror(rc < 0 ? -rc : EINVAL));
  seccomp_release(ctx);
  return prog;
}

int install_program(struct sock_filter *prog, unsigned short len) {
  struct sock_fprog fprog = { .len = len, .filter = prog };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
  return fd < 0 ? -errno : (int)fd;
}

struct name_cache {
  uint32_t arch;
  int nr;
  char *name;
};
static struct name_cache cache[160];
static size_t cached;

const char *syscall_name(uint32_t arch, int nr) {
  for (size_t i = 0; i < cached; i++) if (cache[i].arch == arch && cache[i].nr == nr) return cache[i].name;
  char *name = seccomp_syscall_resolve_num_arch(arch, nr);
  if (name && cached < sizeof cache / sizeof cache[0]) cache[cached++] = (struct name_cache){ arch, nr, name };
  return name;
}
