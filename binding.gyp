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
      "sources": ["native/monitor/main.c", "native/monitor/args.c", "native/monitor/log.c", "native/monitor/control.c", "native/monitor/stop.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
