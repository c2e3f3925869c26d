#!/usr/bin/env bash
# bench-diff.sh BASE [PACKAGES] runs the Go benchmarks matching BENCH
# (default: all) in PACKAGES (default: ./runtime/...) at the revision BASE
# and at the work tree, COUNT times each (default 6), alternating, and
# prints benchstat's comparison: the before and after table that
# docs/benchmarks.md keeps for each optimisation. BASE is checked out in
# a temporary git worktree; nothing in the work tree changes.
#
#   make bench-diff BASE=e3c4833^ AFTER=e3c4833 BENCH=ChannelFanout PKGS=./test/e2e BENCHTIME=2000x
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: bench-diff.sh BASE [PACKAGES]}"
pkgs="${2:-./runtime/...}"
count="${COUNT:-6}"
args=(-run '^$' -bench "${BENCH:-.}" -benchmem -count 1)
[ -z "${BENCHTIME:-}" ] || args+=(-benchtime "$BENCHTIME")
benchstat="$(./hack/setup-benchstat.sh)"
tree="$(mktemp -d)"
after="$PWD"
out="$(mktemp -d)"
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true; [ "$after" = "$PWD" ] || git worktree remove --force "$after" >/dev/null 2>&1 || true; rm -rf "$tree" "$out"' EXIT
git worktree add --detach "$tree" "$base" >/dev/null 2>&1
if [ -n "${AFTER:-}" ]; then
  after="$(mktemp -d)"
  git worktree add --detach "$after" "$AFTER" >/dev/null 2>&1
fi
# Alternate the two, so that a slow spell on this shared machine falls on
# both rather than on one.
for i in $(seq "$count"); do
  echo "run $i of $count: $base, then ${AFTER:-the work tree}" >&2
  (cd "$tree" && go test "${args[@]}" $pkgs) >>"$out/before.txt"
  (cd "$after" && go test "${args[@]}" $pkgs) >>"$out/after.txt"
done
"$benchstat" "before=$out/before.txt" "after=$out/after.txt"
