#!/usr/bin/env bash
# A plugin path for the upstream bpf_conformance runner, which starts its plugin as
# `PLUGIN [MEMORY] [OPTIONS]`: this forwards to `swiftbpf conformance-plugin`.
#   bpf_conformance_runner --test_file_directory ../shared/conformance/tests \
#       --plugin_path Scripts/conformance-plugin.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "${SWIFTBPF:-$here/.build/debug/swiftbpf}" conformance-plugin "$@"
