{
  "targets": [
    {
      "target_name": "heyvm_exec",
      "sources": ["native/exec-addon.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm-owner-monitor",
      "type": "executable",
      "sources": ["native/owner-monitor.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "heyvm-vsock-connect",
      "type": "executable",
      "sources": ["native/vsock-connect.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
