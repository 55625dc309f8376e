#!/usr/bin/env bash
# Fault injection and soak (issue 15; docs/RELIABILITY.md). Builds the debug
# binaries, then runs, each bounded in time and printing one line:
#   always    kill -9 of the server under chat and readings, a bad link
#             (300 ms each way, 5 % loss, 300 kbit/s, a blackout), and the
#             2-minute soak;
#   services  PostgreSQL restarted, NATS stopped and started, a node of two
#             killed. Each starts a PostgreSQL cluster and a NATS server of
#             its own (needs their binaries installed), so the machine's
#             shared services are never touched;
#   all       both (the default).
# Extra arguments go to the soak, e.g. `tests/faults/run.sh soak --seconds 1800
# --print-s 60 --bins target/release` for the long run by hand.
source "$(dirname "$0")/../../scripts/lib.sh"

what="${1:-all}"
[ $# -gt 0 ] && shift

step "Building the binaries for the fault scenarios"
cargo build --locked -p jiliang-server -p jiliang-agent -p jiliang-load \
  --bin jiliang --bin jiliang-agent --bin jiliang-sim --bin jiliang-faults
FAULTS="$ROOT/target/debug/jiliang-faults"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

netns_ready() {
  [ "$(id -u)" = 0 ] || return 1
  command -v nft >/dev/null || apt_install nftables
  # Namespaces left by an interrupted earlier run of this script.
  for ns in $(ip netns list 2>/dev/null | awk '/^jlf-[0-9]+/ { print $1 }'); do
    ip netns del "$ns" 2>/dev/null || true
  done
  return 0
}

run_always() {
  step "Faults: kill -9 of the server; a bad link"
  if netns_ready; then
    "$FAULTS" run --only kill9,link
  else
    echo "FAULT link   not run: the network namespace needs root (run as root)"
    "$FAULTS" run --only kill9
  fi
  step "Soak (2 minutes): memory, open files, threads and tasks flat"
  "$FAULTS" soak --seconds 120 "$@"
}

run_services() {
  step "Faults: PostgreSQL restarted, NATS stopped and started, a node killed"
  "$FAULTS" run --only pg,nats,node
}

case "$what" in
  always) run_always "$@" ;;
  services) run_services ;;
  all) run_always "$@"; run_services ;;
  soak) "$FAULTS" soak "$@" ;;
  *) die "usage: tests/faults/run.sh [always|services|all|soak] [soak options]" ;;
esac
