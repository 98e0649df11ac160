# Sourced by scripts/test and scripts/test-*: what they share.

# A stage heading with the clock time: CI's log then says where its minutes go.
section() { printf '\n==> %s [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
