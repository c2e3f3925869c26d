#!/usr/bin/env bash
# setup-centrifugo.sh builds Centrifugo, the peer that docs/reliability.md
# compares against, for `make faults` (once per version; see go-tool.sh),
# and prints its path. make test does not need it.
set -euo pipefail
exec "$(dirname "$0")/go-tool.sh" centrifugo github.com/centrifugal/centrifugo/v6 "${CENTRIFUGO_VERSION:-6.9.1}"
