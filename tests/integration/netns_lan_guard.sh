#!/usr/bin/env bash
# netns_lan_guard.sh <path-to-hermesd>
#
# End-to-end check of the `bind: lan` peer guard across real network paths.
#
# Three network namespaces, joined by veth pairs, are created for the run:
#
#   priv  10.77.0.2/24  <--veth-->  10.77.0.1/24   gw   (hermesd, bind: lan)
#   pub   203.0.113.2/24 <--veth--> 203.0.113.1/24 gw
#
# The public peer routes 10.77.0.0/24 via 203.0.113.1, so BOTH peers dial the
# same private address 10.77.0.1. The private peer (10.x) must get an answer;
# the public peer (203.0.113.x, TEST-NET-3) must reach the gateway (the TCP
# connect succeeds) and then be cut off with no HTTP response, and
# hermes_listener_refused_total{listener="lan"} must count it.
#
# Every address lives only inside the namespaces this script creates; the
# root namespace's interfaces are never touched and no traffic leaves them.
#
# Exit codes: 0 pass, 1 fail, 77 skip (network namespaces cannot be made,
# e.g. not root or no iproute2).
set -euo pipefail

HERMESD=${1:-}
PORT=18080
GW_PRIV=10.77.0.1
PRIV_PEER=10.77.0.2
PRIV_NET=10.77.0.0/24
GW_PUB=203.0.113.1
PUB_PEER=203.0.113.2
URL="http://${GW_PRIV}:${PORT}/healthz"

NS_GW="hgw$$"
NS_PRIV="hpriv$$"
NS_PUB="hpub$$"

created_ns=()
hermes_pid=""
workdir=""
log=""

say() { printf '%s\n' "$*"; }

dump_log() {
  if [[ -n "$log" && -s "$log" ]]; then
    say "---- hermesd stderr ($log) ----"
    cat -- "$log" || true
    say "---- end hermesd stderr ----"
  fi
}

fail() {
  say "FAIL: $*"
  dump_log
  exit 1
}

skip() {
  say "SKIP: cannot create network namespaces: $*"
  exit 77
}

# True while $1 is running (not exited, not a zombie awaiting `wait`).
alive() {
  local stat
  [[ -n "$1" ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ "${stat%% *}" != Z ]]
}

cleanup() {
  local rc=$?
  set +e
  if [[ -n "$hermes_pid" ]] && alive "$hermes_pid"; then
    kill -KILL "$hermes_pid" 2>/dev/null
    wait "$hermes_pid" 2>/dev/null
  fi
  local ns
  for ns in "${created_ns[@]}"; do
    ip netns delete "$ns" 2>/dev/null
  done
  [[ -n "$workdir" ]] && rm -rf -- "$workdir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Preconditions.

[[ -n "$HERMESD" ]] || { say "usage: $0 <path-to-hermesd>"; exit 2; }
[[ -x "$HERMESD" ]] || fail "hermesd binary not found or not executable: $HERMESD"
HERMESD=$(realpath -- "$HERMESD")
command -v curl >/dev/null 2>&1 || fail "curl is required"
command -v ip >/dev/null 2>&1 || skip "iproute2 'ip' command not found"

# Namespace creation decides between run and skip.
for ns in "$NS_GW" "$NS_PRIV" "$NS_PUB"; do
  if ! err=$(ip netns add "$ns" 2>&1); then
    skip "ip netns add $ns: ${err:-failed} (uid $(id -u))"
  fi
  created_ns+=("$ns")
done
if ! err=$(ip netns exec "$NS_GW" true 2>&1); then
  skip "ip netns exec: ${err:-failed}"
fi
# A veth pair is part of making the namespaces' network; without the veth
# driver there is nothing to test.
if ! err=$(ip -n "$NS_GW" link add gw-priv type veth peer name eth0 netns "$NS_PRIV" 2>&1); then
  skip "veth pair: ${err:-failed}"
fi

# ---------------------------------------------------------------------------
# Topology.

ip -n "$NS_GW" link add gw-pub type veth peer name eth0 netns "$NS_PUB" \
  || fail "cannot create the second veth pair"

for ns in "$NS_GW" "$NS_PRIV" "$NS_PUB"; do
  ip -n "$ns" link set lo up
done

ip -n "$NS_GW" addr add "$GW_PRIV/24" dev gw-priv
ip -n "$NS_GW" addr add "$GW_PUB/24" dev gw-pub
ip -n "$NS_GW" link set gw-priv up
ip -n "$NS_GW" link set gw-pub up

ip -n "$NS_PRIV" addr add "$PRIV_PEER/24" dev eth0
ip -n "$NS_PRIV" link set eth0 up

ip -n "$NS_PUB" addr add "$PUB_PEER/24" dev eth0
ip -n "$NS_PUB" link set eth0 up
ip -n "$NS_PUB" route add "$PRIV_NET" via "$GW_PUB" dev eth0

# The public peer's packets for 10.77.0.1 arrive on gw-pub, not on the
# interface holding that address. Replies go back out gw-pub (its connected
# route), so strict reverse-path filtering would pass too, but a namespace may
# inherit rp_filter settings from the host: turn it off so the result depends
# on hermesd alone. (The kernel uses the max of `all` and the interface.)
for conf in all default gw-priv gw-pub; do
  ip netns exec "$NS_GW" sysctl -q -w "net.ipv4.conf.$conf.rp_filter=0" >/dev/null 2>&1 \
    || echo 0 | ip netns exec "$NS_GW" tee "/proc/sys/net/ipv4/conf/$conf/rp_filter" >/dev/null 2>&1 \
    || true
done

say "topology: $NS_PRIV($PRIV_PEER) -> $NS_GW($GW_PRIV) <- $NS_PUB($PUB_PEER via $GW_PUB)"

# ---------------------------------------------------------------------------
# hermesd inside the gateway namespace.

workdir=$(mktemp -d "${TMPDIR:-/tmp}/hermes-netns.XXXXXX")
log="$workdir/hermesd.log"
mkdir -p "$workdir/data"
ADMIN_KEY="netns-admin-$$-$RANDOM"
printf '%s\n' "$ADMIN_KEY" >"$workdir/admin.key"
cat >"$workdir/hermes.yaml" <<EOF
gateway: {instance: netns-test, data_dir: $workdir/data, threads: 1, drain_timeout: 3s}
admin: {key: "\${file:admin.key}"}
listeners:
  - {name: lan, bind: lan, port: $PORT}
EOF

# `ip netns exec` execs hermesd in place, so $! is hermesd's own pid.
ip netns exec "$NS_GW" "$HERMESD" --config "$workdir/hermes.yaml" </dev/null >"$log" 2>&1 &
hermes_pid=$!

# Proxy settings from the environment must not divert any request below.
CURL=(curl -sS --noproxy '*' --connect-timeout 3 --max-time 5)
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

ready=""
last=""
for _ in $(seq 1 100); do
  alive "$hermes_pid" || fail "hermesd exited during startup"
  if last=$(in_ns "$NS_GW" "${CURL[@]}" --max-time 1 -w '\nHTTP %{http_code}' \
              "http://127.0.0.1:${PORT}/healthz" 2>&1) \
     && [[ "$last" == ok*$'\n'"HTTP 200" ]]; then
    ready=1
    break
  fi
  # Any other HTTP reply means hermesd is up but /healthz is wrong: no point waiting.
  [[ "$last" == *$'\n'"HTTP 000" ]] || fail "hermesd answered /healthz on 127.0.0.1:$PORT with: $last"
  sleep 0.1
done
[[ -n "$ready" ]] || fail "hermesd did not answer 200 ok on http://127.0.0.1:$PORT/healthz within 10s; last reply: $last"
say "PASS: hermesd is up in $NS_GW (pid $hermes_pid)"

# Reads hermes_listener_refused_total{listener="lan"} from /metrics via loopback.
refused_count() {
  local metrics line value=""
  metrics=$(in_ns "$NS_GW" "${CURL[@]}" "http://127.0.0.1:${PORT}/metrics") || return 1
  while IFS= read -r line; do
    if [[ "$line" =~ ^hermes_listener_refused_total\{listener=\"lan\"\}[[:space:]]+([0-9]+)([.][0-9]+)?$ ]]; then
      value=${BASH_REMATCH[1]}
    fi
  done <<<"$metrics"
  [[ -n "$value" ]] || return 1
  printf '%s\n' "$value"
}

refused_before=$(refused_count) || fail "no hermes_listener_refused_total{listener=\"lan\"} sample on /metrics"

# ---------------------------------------------------------------------------
# Private peer (10.x): admitted.

set +e
out=$(in_ns "$NS_PRIV" "${CURL[@]}" -w '\nHTTP %{http_code}' "$URL" 2>&1)
rc=$?
set -e
if [[ $rc -ne 0 || "$out" != ok*$'\n'"HTTP 200" ]]; then
  fail "private peer $PRIV_PEER -> $URL: curl exit $rc, output: $out"
fi
say "PASS: private peer $PRIV_PEER got 200 ok from $URL"

# ---------------------------------------------------------------------------
# Public peer (203.0.113.x): reaches the gateway, then is cut off.

set +e
out=$(in_ns "$NS_PUB" "${CURL[@]}" -w '\nHTTP %{http_code}' "$URL" 2>&1)
rc=$?
set -e
case $rc in
  0) fail "public peer $PUB_PEER was answered (should be cut off); output: $out" ;;
  52 | 56) ;;  # empty reply / recv failure: connected, then closed by the gateway
  7 | 28) fail "public peer $PUB_PEER never connected to $URL (curl exit $rc: no route / timeout), so the guard was not exercised; output: $out" ;;
  *) fail "public peer $PUB_PEER -> $URL: unexpected curl exit $rc; output: $out" ;;
esac
if [[ "$out" != *"HTTP 000" || "$out" == *"HTTP/1"* ]]; then
  fail "public peer $PUB_PEER saw an HTTP response; output: $out"
fi
say "PASS: public peer $PUB_PEER connected and was cut off with no HTTP response (curl exit $rc)"

refused_after=$(refused_count) || fail "no hermes_listener_refused_total{listener=\"lan\"} sample on /metrics"
if (( refused_after < refused_before + 1 )); then
  fail "hermes_listener_refused_total{listener=\"lan\"} went $refused_before -> $refused_after, expected an increase"
fi
say "PASS: hermes_listener_refused_total{listener=\"lan\"} $refused_before -> $refused_after"

# The private peer is still served after the refusal.
set +e
out=$(in_ns "$NS_PRIV" "${CURL[@]}" "$URL" 2>&1)
rc=$?
set -e
[[ $rc -eq 0 && "$out" == ok* ]] || fail "private peer not served after the refusal: curl exit $rc, output: $out"
say "PASS: private peer still served after the refusal"

# ---------------------------------------------------------------------------
# Admin endpoints from a non-loopback (but admitted) peer: /healthz is open,
# /metrics and /status need the admin key, and forwarding headers grant nothing.

admin_status() {  # prints the HTTP status the private peer gets for $1 with extra curl args
  local path=$1; shift
  in_ns "$NS_PRIV" "${CURL[@]}" -o /dev/null -w '%{http_code}' "$@" "http://${GW_PRIV}:${PORT}${path}" 2>/dev/null || true
}
expect_status() {  # expected, description, path, curl args...
  local want=$1 what=$2 path=$3; shift 3
  local got
  got=$(admin_status "$path" "$@")
  [[ "$got" == "$want" ]] || fail "$what: expected HTTP $want for $path, got $got"
  say "PASS: $what -> $want"
}
expect_status 401 "private peer, /metrics without a key" /metrics
expect_status 401 "private peer, /status with a wrong key" /status -H "Authorization: Bearer wrong-$ADMIN_KEY"
expect_status 401 "private peer, /metrics claiming X-Forwarded-For: 127.0.0.1" /metrics \
  -H "X-Forwarded-For: 127.0.0.1" -H "Forwarded: for=127.0.0.1" -H "X-Real-IP: 127.0.0.1"
expect_status 200 "private peer, /metrics with the admin key" /metrics -H "Authorization: Bearer $ADMIN_KEY"
expect_status 200 "private peer, /status with the admin key" /status -H "Authorization: Bearer $ADMIN_KEY"
expect_status 200 "private peer, /readyz without a key" /readyz
if grep -q -- "$ADMIN_KEY" "$log"; then
  fail "the admin key appears in hermesd's log"
fi
say "PASS: the admin key never appears in the log"

# ---------------------------------------------------------------------------
# Clean shutdown.

kill -TERM "$hermes_pid"
for _ in $(seq 1 100); do
  alive "$hermes_pid" || break
  sleep 0.1
done
if alive "$hermes_pid"; then
  fail "hermesd did not exit within 10s of SIGTERM"
fi
set +e
wait "$hermes_pid"
rc=$?
set -e
hermes_pid=""
(( rc == 0 )) || fail "hermesd exited with status $rc after SIGTERM (expected 0)"
say "PASS: hermesd exited 0 on SIGTERM"

say "PASS: netns_lan_guard"
