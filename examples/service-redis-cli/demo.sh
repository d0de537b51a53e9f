#!/bin/sh
# The mneme memory service from the shell, with redis-cli: allocate, write, read (text and
# binary), a pageable MAP region larger than the server's memory, STATS and INFO, then free.
# Each reply is checked; the script stops with a message at the first unexpected one.
#
#   mneme serve --port 6389 &      # or: npm start
#   sh examples/service-redis-cli/demo.sh [PORT]
set -eu

PORT="${1:-${MNEME_PORT:-6389}}"
cli() { redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }
# expect WHAT GOT WANTED: stop unless the reply is the one wanted.
expect() {
  if [ "$2" != "$3" ]; then
    echo "FAILED: $1: got '$2', wanted '$3'" >&2
    exit 1
  fi
  echo "ok  $1: $2"
}

# stat NAME: one figure of STATS (its reply is name, value, name, value, ...).
stat() { cli STATS | awk -v k="$1" 'prev == k { print; exit } { prev = $0 }'; }

expect "PING" "$(cli PING)" "PONG"
HANDLES=$(stat handles)

# ALLOC answers a handle: a capability (the address plus 128 random bits) bound to this identity.
H=$(cli ALLOC 4096)
case "$H" in
  *.????????????????????????????????) echo "ok  ALLOC 4096: $H" ;;
  *) echo "FAILED: ALLOC 4096: got '$H'" >&2; exit 1 ;;
esac

expect "WRITE text" "$(cli WRITE "$H" 0 "hello, mneme")" "12"
expect "READ text" "$(cli READ "$H" 0 12)" "hello, mneme"
expect "SIZE" "$(cli SIZE "$H")" "4096"

# Binary data: -x sends stdin as the last argument, NUL and 0xff included.
expect "WRITE binary (stdin)" "$(printf 'A\000\377\r\nZ' | cli -x WRITE "$H" 100)" "6"
expect "READ binary" "$(cli READ "$H" 100 6 | od -An -tx1 | tr -s ' ' | sed 's/^ //;s/ $//')" "41 00 ff 0d 0a 5a 0a"

# Several commands in one go: redis-cli reads them from stdin, one per line, replies in order.
expect "commands from stdin" "$(printf 'SIZE %s\nREAD %s 0 5\n' "$H" "$H" | cli | tr '\n' ' ')" "4096 hello "

# Bad input is refused and changes nothing.
expect "WRITE past the end" "$(cli WRITE "$H" 4090 "too long")" "ERR offset or length out of range"
expect "ALLOC 0" "$(cli ALLOC 0)" "ERR size must be at least 1 byte"
expect "READ after refusals" "$(cli READ "$H" 0 5)" "hello"

# A MAP region is pageable: 1 GiB here, paged through the server's frames (random: no read-ahead).
M=$(cli MAP 1073741824 HINT random)
expect "WRITE 1 GiB in" "$(cli WRITE "$M" 1000000000 far)" "3"
expect "READ 1 GiB in" "$(cli READ "$M" 1000000000 3)" "far"
expect "READ untouched (zeros)" "$(cli READ "$M" 0 4 | od -An -tx1 | tr -s ' ' | sed 's/^ //;s/ $//')" "00 00 00 00 0a"

expect "STATS handles" "$(stat handles)" "$((HANDLES + 2))"
case "$(cli INFO memory)" in
  *mem_pool_total:*) echo "ok  INFO memory" ;;
  *) echo "FAILED: INFO memory" >&2; exit 1 ;;
esac

expect "FREE" "$(cli FREE "$H")" "OK"
expect "FREE again" "$(cli FREE "$H")" "ERR invalid handle (unknown, freed, or held by another identity)"
expect "FREE the map" "$(cli FREE "$M")" "OK"
expect "STATS handles after" "$(stat handles)" "$HANDLES"
echo "done"
