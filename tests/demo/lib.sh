# Shared by the demo's chapters: print each command as the user would type it (juju ...),
# run it on jujusim, and check outcomes. Sourced by run and the chapter scripts.
: "${DEMO_BIN:?run the demo with make demo}"
JUJUSIM="$DEMO_BIN/jujusim"
export JUJUSIM_HOME="${JUJUSIM_HOME:-$DEMO_BIN/home}"

bold=$'\e[1m'; green=$'\e[32m'; red=$'\e[31m'; reset=$'\e[0m'
[[ -t 1 ]] || { bold=; green=; red=; reset=; }

# juju prints the command as the user types it, then runs it on jujusim.
# Commands that run hooks show each hook as it finishes, so long steps show progress.
juju() {
  echo "${bold}\$ juju $*${reset}"
  local verbose=()
  case $1 in deploy|add-unit|add-relation|integrate|config|run-action|run|wait|remove-unit) verbose=(--verbose) ;; esac
  "$JUJUSIM" "$@" "${verbose[@]}" 2>&1 |
    sed -E 's/^([^ ]+): ran "([^"]+)" hook .* in ([^,]+), exit code ([0-9]+).*/  . \1 \2 (\3, exit \4)/; t; s/^/  /'
  return "${PIPESTATUS[0]}"
}

# quietly runs a jujusim command without showing it.
quietly() { "$JUJUSIM" "$@" >/dev/null 2>&1; }

# sql runs SQL as postgres on a unit and prints the result the way psql does.
sql() {
  local unit=$1; shift
  echo "${bold}\$ juju ssh $unit 'sudo -u postgres psql -c \"$*\"'${reset}"
  "$JUJUSIM" exec "$unit" -- runuser -u postgres -- psql -X -c "$*" 2>&1 | sed 's/^/  /'
}

# value runs SQL and returns the bare value.
value() { local unit=$1; shift; "$JUJUSIM" exec "$unit" -- runuser -u postgres -- psql -XAtc "$*" 2>/dev/null; }

say() { echo; echo "${bold}# $*${reset}"; }

# eventually retries a check for up to 30 seconds (replication is asynchronous).
eventually() {
  local i
  for i in $(seq 1 60); do "$@" && return 0; sleep 0.5; done
  return 1
}

failures=0
check() {
  local what=$1; shift
  if "$@"; then echo "${green}  ok: $what${reset}"; else echo "${red}  FAILED: $what${reset}"; failures=$((failures+1)); fi
}

# unit_with prints the unit of app whose status message starts with prefix.
unit_with() {
  "$JUJUSIM" status --format=json | python3 -c '
import json, sys
st = json.load(sys.stdin)
for name, u in sorted(st["applications"][sys.argv[1]]["units"].items()):
    if u["workload-status"].get("message", "").startswith(sys.argv[2]):
        print(name); break' "$1" "$2"
}

chapter_result() {
  if ((failures)); then
    echo "${red}${bold}Chapter $1: FAIL ($failures checks failed)${reset}"
    echo "What the units logged about it (jujusim debug-log, all models):"
    "$JUJUSIM" debug-log --all-models 2>/dev/null | grep -E -B3 -A12 "ERROR|hook failed|failed:" | tail -80 | sed 's/^/  /'
    return 1
  fi
  echo "${green}${bold}Chapter $1: PASS${reset}"
}
