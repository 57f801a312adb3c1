#!/usr/bin/env bash
# Stop the background local SuperLink (and its SuperExec / simulation children)
# that `flwr run .` starts under $FLWR_HOME (default ~/.flwr).
set -u
home="${FLWR_HOME:-$HOME/.flwr}"
pids=$(pgrep -f "$home/local-superlink" || true)
[ -z "$pids" ] && { echo "no local SuperLink running under $home"; exit 0; }
for pid in $pids; do
  children=$(pgrep -f -- "--parent-pid $pid" || true)
  for child in $children; do pkill -f -- "--parent-pid $child" || true; done
  kill $children $pid 2>/dev/null || true
  echo "stopped SuperLink $pid and children: ${children:-none}"
done
