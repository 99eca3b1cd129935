#!/usr/bin/env bash
# Installs what is missing, then serves the app at http://127.0.0.1:8080/ (open it in several
# tabs). Extra arguments go to `trunk serve` (e.g. --release, --port 9000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup serve
cd "$ROOT"
exec trunk serve "$@"
