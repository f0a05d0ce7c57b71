#!/usr/bin/env bash
# Step 3: keep the machine busy while the detached run goes on (it is given back 30 s after a call),
# and say where the run is. Returns early when the run has finished, and then also brings back what
# collect.sh would (the card's name in device.txt, the run's log), so no call is spent collecting.
#   bash scripts/gpu/poll.sh [SECONDS=540] [RUN_DIR=/tmp/gpurun]
S=${1:-540}; RUN=${2:-/tmp/gpurun}
end=$((SECONDS + S)); done_=""
while (( SECONDS < end )); do
  pgrep -f "geak.orchestrator.cli run" >/dev/null || { echo "run finished"; done_=1; break; }
  sleep 10
done
if [[ -n $done_ && -d $RUN ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$RUN/device.txt"
  [[ -n ${OUT:-} ]] && cp /tmp/g.log "$OUT/g.log" 2>/dev/null
fi
echo "legs: $(ls "$RUN/legs" 2>/dev/null | tr '\n' ' ')"
for l in "$RUN"/legs/*/launch.json; do
  [[ -f $l ]] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['leg_id'], d['status'], d.get('failure_reason') or '')" "$l"
done
grep -h "Loading weights took\|Graph capturing finished\|torch.compile takes\|init engine" "$RUN"/legs/*/server.log 2>/dev/null | tail -6
tail -15 /tmp/g.log
# what ran so far comes back with every poll: a machine taken back mid-run still leaves its legs
[[ -n ${OUT:-} && -d $RUN ]] && tar -C "$(dirname "$RUN")" -cf - "$(basename "$RUN")" | xz -T0 -3 > "$OUT/partial.tar.xz" \
  && echo "partial: $(du -h "$OUT/partial.tar.xz" | cut -f1)"
