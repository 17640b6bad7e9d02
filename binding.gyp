{
  "targets": [
    {
      "target_name": "heyvm-constants",
      "type": "none",
      "actions": [
        {
          "action_name": "constants_header",
          "inputs": ["scripts/native-constants.mjs", "dist/src/owner/monitor-argv.js", "dist/src/shared/errors.js", "dist/src/shared/owner-protocol.js", "dist/src/core/launch-record.js", "dist/src/state/catalog-index.js", "dist/src/state/status.js"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-common/constants.h"],
          "action": ["node", "scripts/native-constants.mjs", "dist/src", "<(SHARED_INTERMEDIATE_DIR)/heyvm-common/constants.h"]
        }
      ]
    },
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
      "dependencies": ["heyvm-constants"],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-common"],
      "sources": ["native/monitor/main.c", "native/monitor/args.c", "native/monitor/log.c", "native/monitor/control.c", "native/monitor/stop.c", "native/monitor/git-sync.c", "native/common/json-text.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm-launcher",
      "type": "executable",
      "sources": ["native/launcher/main.c", "native/launcher/fall-back.c", "native/launcher/json.c", "native/launcher/files.c", "native/launcher/liveness.c", "native/launcher/record.c", "native/launcher/resolve.c", "native/launcher/exec.c", "native/launcher/list.c", "native/common/json-text.c"],
      "dependencies": ["heyvm-constants"],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher", "<(SHARED_INTERMEDIATE_DIR)/heyvm-common"],
      "actions": [
        {
          "action_name": "version_header",
          "inputs": ["scripts/launcher-version.mjs", "src/shared/version.ts"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher/version.h"],
          "action": ["node", "scripts/launcher-version.mjs", "src/shared/version.ts", "<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher/version.h"]
        },
        {
          "action_name": "exec_options_header",
          "inputs": ["scripts/exec-options-header.mjs", "dist/src/cli/commands/exec-options.js"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher/exec-options.h"],
          "action": ["node", "scripts/exec-options-header.mjs", "dist/src/cli/commands/exec-options.js", "<(SHARED_INTERMEDIATE_DIR)/heyvm-launcher/exec-options.h"]
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
    },
    {
      "target_name": "heyvm-nameguard",
      "type": "executable",
      "sources": ["native/nameguard/main.c", "native/nameguard/filter.c", "native/nameguard/fdpass.c", "native/nameguard/resolve.c", "native/nameguard/guard.c", "native/nameguard/supervise.c"],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-nameguard"],
      "actions": [
        {
          "action_name": "nameguard_rules_header",
          "inputs": ["scripts/seccomp-header.mjs", "dist/src/backends/seccomp-policy.js"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/heyvm-nameguard/nameguard-rules.h"],
          "action": ["node", "scripts/seccomp-header.mjs", "dist/src/backends/seccomp-policy.js", "<(SHARED_INTERMEDIATE_DIR)/heyvm-nameguard/nameguard-rules.h", "nameguard"]
        }
      ],
      "libraries": ["-static", "-lseccomp"],
      "ldflags": ["-static"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
