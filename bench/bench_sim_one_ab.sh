#!/bin/sh
# meshnode's side of the ONE side by side (bench/bench_sim_one.sh) alone, this tree against a
# base commit, alternating base / this tree, so a CPU difference between two commits can be told
# from the machine's load (docs/benchmarks.md, "ONE side by side: where the evening's CPU went").
#
# Needs the files of one earlier bench_sim_one.sh run (it prints "files in DIR": the contact
# report helsinki_live_ConnectivityONEReport.txt and messages.txt); ONE itself is not run.
# The base is run from `git archive BASE` with PYTHONPATH, this tree's .venv for both. Usage:
#   sh bench/bench_sim_one_ab.sh DIR BASE [END_SECONDS] [RUNS]
# Prints per run: user+sys CPU, wall, peak RSS, `uptime` load before it, events and a digest of
# the results (results.json without its timings and command line: same digest, same results).
set -eu
DIR=$1
BASE=$2
END=${3:-10350}
RUNS=${4:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
WORK=$(mktemp -d)
git -C "$ROOT" archive "$BASE" | tar -x -C "$WORK" --one-top-level=base
cat > "$WORK/slice.toml" <<SCENARIO
[scenario]
name = "one-helsinki"
duration = $END
step = "10s"
[population]
residents = 126
hubs = 0
[mobility]
model = "trace"
[trace]
file = "$DIR/helsinki_live_ConnectivityONEReport.txt"
[workload]
alerts = []
posts_per_hour = 0.0
messages = "$DIR/messages.txt"
[routing]
policy = "epidemic"
[output]
plots = false
SCENARIO
cat > "$WORK/digest.py" <<'PYTHON'
import hashlib, json, sys
results = json.load(open(sys.argv[1] + "/results.json"))
run = results.pop("run")
results.pop("command", None)
digest = hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()[:16]
print(f"events {run['events']}, digest {digest}")
PYTHON
echo "files in $WORK; base $(git -C "$ROOT" rev-parse --short "$BASE"), this tree $(git -C "$ROOT" rev-parse --short HEAD)"
i=1
while [ "$i" -le "$RUNS" ]; do
    for side in base this; do
        tree=$ROOT
        [ "$side" = base ] && tree=$WORK/base
        load=$(uptime | sed 's/.*load average: //')
        # From $WORK, so that the tree on PYTHONPATH (not the current directory) is imported.
        (cd "$WORK" && PYTHONPATH=$tree /usr/bin/time -f "%U %S %e %M" -o "$WORK/time" \
            "$PY" -m cli.main sim run "$WORK/slice.toml" --out "$WORK/$side$i" --quiet > /dev/null)
        read -r user sys wall rss < "$WORK/time"
        echo "$side run $i: $(awk "BEGIN { print $user + $sys }") s CPU ($user user, $sys sys), $wall s wall," \
            "$((rss / 1024)) MiB peak RSS, load [$load], $("$PY" "$WORK/digest.py" "$WORK/$side$i")"
    done
    i=$((i + 1))
done
