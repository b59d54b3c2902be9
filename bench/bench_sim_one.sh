#!/bin/sh
# Side by side with The ONE on a slice of ONE's default Helsinki scenario (docs/benchmarks.md,
# "ONE side by side"): ONE's own replay of its contact report against meshnode's replay of the
# same report, with the same 1,463-message list, measuring CPU time (user + sys) of each.
#
# Needs a checkout of https://github.com/akeranen/the-one in $ONE (default ./the-one), Java 8+,
# perl, and GNU time (/usr/bin/time). ONE runs locally, no network. Usage:
#   ONE=/path/to/the-one sh bench/bench_sim_one.sh [END_SECONDS]
set -eu
ONE=${ONE:-./the-one}
END=${1:-10350}  # the slice: 2 h 52 min 30 s of ONE's 12 h scenario
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
cd "$ONE"
[ -d target/core ] || sh compile.sh
perl toolkit/createCreates.pl -time 0:43200 -nrof 1463 -hosts 0:126 -sizes 1000:4000 -seed 1 \
    > "$WORK/messages.txt"
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
echo "files in $WORK"
uptime
/usr/bin/time -f "ONE live run: %U s user, %S s sys, %e s wall, %M KiB peak RSS" \
    sh one.sh -b 1 "$WORK/live.txt" > /dev/null
TRACE=$WORK/helsinki_live_ConnectivityONEReport.txt
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
for run in 1 2 3; do
    uptime
    /usr/bin/time -f "ONE run $run: %U s user, %S s sys, %e s wall, %M KiB peak RSS" \
        sh one.sh -b 1 "$WORK/replay.txt" > /dev/null
    /usr/bin/time -f "meshnode run $run: %U s user, %S s sys, %e s wall, %M KiB peak RSS" \
        "$ROOT/.venv/bin/meshnode" sim run "$WORK/one-helsinki.toml" --out "$WORK/mesh" --quiet \
        > /dev/null
done
paste "$WORK/helsinki_replay_MessageStatsReport.txt" "$WORK/mesh/message_stats.txt"
echo "files in $WORK"
