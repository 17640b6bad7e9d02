#!/usr/bin/env bash
# Builds heyvm's two native pieces with node-gyp (binding.gyp lists their sources): the owner
# monitor (native/monitor/, the idle owner process) and the small addon that lets the Node owner
# become it (native/exec-addon.c). Headers come from the node that runs heyvm
# (<prefix>/include/node), so nothing is downloaded; make keeps rebuilds incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$(node -p 'require("node:path").resolve(process.execPath, "..", "..")')"
args=()
if [ -f "$prefix/include/node/node_api.h" ]; then
  args+=("--nodedir=$prefix")
else
  echo "note: no node headers under $prefix/include/node; node-gyp will try to download them" >&2
fi
if ! command -v cc >/dev/null && ! command -v gcc >/dev/null; then
  echo "error: no C compiler found: install build-essential (Debian/Ubuntu) to build heyvm's owner monitor" >&2
  exit 1
fi

if [ -f build/Makefile ] && [ -f build/config.gypi ] && [ binding.gyp -ot build/Makefile ]; then
  node_modules/.bin/node-gyp build --loglevel=warn "${args[@]}"
else
  node_modules/.bin/node-gyp rebuild --loglevel=warn "${args[@]}"
fi
