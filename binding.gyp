{
  "targets": [
    {
      "target_name": "heyvm_exec",
      "sources": ["native/exec-addon.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm_memory",
      "sources": ["native/memory-addon.cc"],
      "cflags_cc": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm-owner-monitor",
      "type": "executable",
      "sources": ["native/monitor/main.c", "native/monitor/args.c", "native/monitor/log.c", "native/monitor/control.c", "native/monitor/stop.c", "native/monitor/git-sync.c", "native/common/json-text.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm-launcher",
      "type": "executable",
      "sources": ["native/launcher/main.c", "native/launcher/json.c", "native/launcher/files.c", "native/launcher/liveness.c", "native/launcher/record.c", "native/launcher/resolve.c", "native/launcher/exec.c", "native/launcher/list.c", "native/common/json-text.c"],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher"],
      "actions": [
        {
          "action_name": "version_header",
          "inputs": ["scripts/launcher-version.mjs", "src/shared/version.ts"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher/version.h"],
          "action": ["node", "scripts/launcher-version.mjs", "src/shared/version.ts", "<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher/version.h"]
        }
      ],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm-vsock-connect",
      "type": "executable",
      "sources": ["native/vsock-connect.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm-seccomp",
      "type": "executable",
      "sources": ["native/seccomp/seccomp-exec.c"],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-seccomp"],
      "actions": [
        {
          "action_name": "rules_header",
          "inputs": ["scripts/seccomp-header.mjs", "dist/src/backends/seccomp-policy.js"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-seccomp/rules.h"],
          "action": ["node", "scripts/seccomp-header.mjs", "dist/src/backends/seccomp-policy.js", "<(SHARED_INTERMEDIATE_DIR)/heyvm-seccomp/rules.h"]
        }
      ],
      "libraries": ["-lseccomp"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
