#!/bin/sh
# Side by side with The ONE on ONE's default Helsinki scenario (docs/benchmarks.md,
# "ONE side by side"): ONE's own replay of its contact report against meshnode's replay of the
# same report, with the same 1,463-message list, measuring CPU time (user + sys) of each.
#
# Needs a checkout of https://github.com/akeranen/the-one in $ONE (default ./the-one), Java 8+,
# perl, and GNU time (/usr/bin/time). ONE runs locally, no network. Usage:
#   ONE=/path/to/the-one sh bench/bench_sim_one.sh [END_SECONDS] [RUNS]
# END_SECONDS defaults to the 10,350 s slice, 43200 is the whole 12 hours; RUNS defaults to 3.
# With REUSE=DIR, the contact report and message list of an earlier run (the "files in DIR" it
# printed) are used and ONE's live run (25 min at load 10) is skipped: the report is
# deterministic, and a run for the whole 12 hours also serves any shorter END_SECONDS.
# The two replays alternate, ONE then meshnode, never two at once, both under `nice -n 10`;
# each line gives user+sys CPU, wall, peak RSS and `uptime` load before and after the run.
set -eu
ONE=${ONE:-./the-one}
END=${1:-10350}  # the slice: 2 h 52 min 30 s of ONE's 12 h scenario
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
cd "$ONE"
[ -d target/core ] || sh compile.sh
echo "files in $WORK; meshnode at $(git -C "$ROOT" rev-parse --short HEAD)"
load() { uptime | sed 's/.*load average: //'; }
# timed NAME COMMAND...: runs COMMAND under nice and GNU time, prints one line for it.
timed() {
    name=$1
    shift
    before=$(load)
    out=$WORK/time-$(echo "$name" | tr ' ' '-')
    nice -n 10 /usr/bin/time -v -o "$out" "$@" > /dev/null
    user=$(sed -n 's/.*User time (seconds): //p' "$out")
    sys=$(sed -n 's/.*System time (seconds): //p' "$out")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$out")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out")
    echo "$name: $(awk "BEGIN { print $user + $sys }") s CPU ($user user, $sys sys)," \
        "$wall wall (m:ss), $((rss / 1024)) MiB peak RSS, load [$before] -> [$(load)]"
}
TRACE=$WORK/helsinki_live_ConnectivityONEReport.txt
if [ -n "${REUSE:-}" ]; then
    cp "$REUSE/messages.txt" "$REUSE/helsinki_live_ConnectivityONEReport.txt" "$WORK/"
else
    perl toolkit/createCreates.pl -time 0:43200 -nrof 1463 -hosts 0:126 -sizes 1000:4000 \
        -seed 1 > "$WORK/messages.txt"
    # 1. ONE's live Helsinki run (maps, trams with two interfaces) writes the contact report.
    cat > "$WORK/live.txt" <<SETTINGS
Scenario.name = helsinki_live
Scenario.endTime = $((END + 10))
Events1.class = ExternalEventsQueue
Events1.filePath = $WORK/messages.txt
Report.nrofReports = 1
Report.report1 = ConnectivityONEReport
Report.reportDir = $WORK/
btInterface.transmitSpeed = 20k
SETTINGS
    timed "ONE live run" sh one.sh -b 1 "$WORK/live.txt"
fi
# 2. ONE replays it: no movement, connections from the report, messages from the list.
cat > "$WORK/replay.txt" <<SETTINGS
Scenario.name = helsinki_replay
Scenario.simulateConnections = false
Scenario.endTime = $END
Group.movementModel = StationaryMovement
Group.nodeLocation = 10, 10
Group4.movementModel = StationaryMovement
Group5.movementModel = StationaryMovement
Group6.movementModel = StationaryMovement
Events.nrof = 2
Events1.class = ExternalEventsQueue
Events1.filePath = $WORK/messages.txt
Events2.class = ExternalEventsQueue
Events2.filePath = $TRACE
Report.nrofReports = 1
Report.report1 = MessageStatsReport
Report.reportDir = $WORK/
btInterface.transmitSpeed = 20k
SETTINGS
# 3. meshnode replays the same report and list (docs/simulator.md, "Comparing with other
# simulators").
cat > "$WORK/one-helsinki.toml" <<SCENARIO
[scenario]
name = "one-helsinki"
duration = $END
step = "10s"
[population]
residents = 126  # ONE's hosts: those the report leaves out (they met nobody) still exist
hubs = 0
[mobility]
model = "trace"
[trace]
file = "$TRACE"
[workload]
alerts = []
posts_per_hour = 0.0
messages = "$WORK/messages.txt"
[routing]
policy = "epidemic"
[output]
plots = false
SCENARIO
run=1
while [ "$run" -le "$RUNS" ]; do
    timed "ONE run $run" sh one.sh -b 1 "$WORK/replay.txt"
    cp "$WORK/helsinki_replay_MessageStatsReport.txt" "$WORK/one_stats_$run.txt"
    timed "meshnode run $run" "$ROOT/.venv/bin/meshnode" sim run "$WORK/one-helsinki.toml" \
        --out "$WORK/mesh$run" --quiet
    run=$((run + 1))
done
paste "$WORK/helsinki_replay_MessageStatsReport.txt" "$WORK/mesh1/message_stats.txt"
echo "files in $WORK"
