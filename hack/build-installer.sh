#!/usr/bin/env bash
# build-installer.sh renders the one-file installer, dist/install.yaml (or
# $OUT), from config/default with kubectl's built-in kustomize: the
# namespace, the CRD, the RBAC, the custom metrics API's registration and
# the operator, with the image set to $IMG. The manifests name the
# placeholder image ghcr.io/fleetwire/fleetwire:latest twice, as the
# operator's container image and as its --runtime-image (the runtime is
# the same image); both become $IMG. It is not committed: make
# build-installer renders it, and test/operator applies it.
set -euo pipefail
cd "$(dirname "$0")/.."
img="${IMG:?set IMG, e.g. IMG=ghcr.io/fleetwire/fleetwire:v0.1.0}"
out="${OUT:-dist/install.yaml}"
placeholder="ghcr.io/fleetwire/fleetwire:latest"
case "$img" in
  *[[:space:]#]*) echo "IMG has a space or a #: $img" >&2; exit 1 ;;
esac
mkdir -p "$(dirname "$out")"
rendered="$(kubectl kustomize config/default)"
n=$(grep -c -F "$placeholder" <<<"$rendered" || true)
if [ "$n" != 2 ]; then
  echo "config/default names $placeholder $n times, not 2 (the image and --runtime-image)" >&2
  exit 1
fi
{
  echo "# Fleetwire operator installer, rendered from config/default for $img."
  echo "#   kubectl apply --server-side -f install.yaml"
  sed "s#${placeholder}#${img}#g" <<<"$rendered"
} >"$out"
echo "wrote $out for $img" >&2
