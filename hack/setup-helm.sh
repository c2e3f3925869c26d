#!/usr/bin/env bash
# setup-helm.sh builds the helm CLI for the chart tests (about a minute,
# once per version; see go-tool.sh) and prints its path.
set -euo pipefail
exec "$(dirname "$0")/go-tool.sh" helm helm.sh/helm/v3/cmd/helm "${HELM_VERSION:-3.22.0}"
