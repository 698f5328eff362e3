# Shared by every recipe's run.sh (source it after setting `recipe_dir`, `stage`, `stop_stage`):
# the catt environment, logging, stage selection and timing, and the decode/report loops.
# Recipes hold no model or data code: everything they run is a `catt` subcommand.

# Prefer the project's own environment when it exists.
_repo_dir=$(cd "$recipe_dir/../.." && pwd)
[ -x "$_repo_dir/.venv/bin/catt" ] && export PATH="$_repo_dir/.venv/bin:$PATH"

# log MESSAGE...: a time-stamped line tagged with $log_tag.
log() { echo "$(date +%H:%M:%S) [${log_tag:-catt}] $*"; }

# run_stage N: true when stage N is selected by --stage/--stop-stage.
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# stage_time N START_SECONDS: append the stage's wall time to $exp/stage_times.txt.
stage_time() { echo "stage $1 $(( $(date +%s) - $2 ))s" >> "$exp/stage_times.txt"; }

# json_field FILE KEY [DEFAULT]: one top-level value of a JSON file (e.g. a weight catt tune
# chose); DEFAULT when the file has no KEY (a file an older catt wrote).
json_field() {
  python -c '
import json, sys
data = json.load(open(sys.argv[1]))
print(data[sys.argv[2]] if sys.argv[2] in data or len(sys.argv) < 4 else sys.argv[3])' "$@"
}

# decode_conditions MODEL DATA SPLIT OUT_DIR PREFIX JOBS "name|flags"...: every condition into
# OUT_DIR/name.jsonl (condition PREFIXname in the report) by one `catt decode --conditions` of
# JOBS processes, the list in OUT_DIR/conditions.txt; a condition decoded already with the same
# settings (OUT_DIR/name.settings.json) is skipped, one with others (a boost tuned again) is
# decoded again.
decode_conditions() {
  local model=$1 data=$2 split=$3 out_dir=$4 prefix=$5 jobs=$6 entry
  shift 6
  mkdir -p "$out_dir"
  for entry in "$@"; do echo "${entry%%|*} ${entry#*|}"; done > "$out_dir/conditions.txt"
  catt decode --model "$model" --data "$data" --split "$split" --jobs "$jobs" \
    --conditions "$out_dir/conditions.txt" --out-dir "$out_dir" --prefix "$prefix"
}

# condition_files OUT_DIR "name|flags"...: the results files of decode_conditions, one a line.
condition_files() {
  local out_dir=$1 entry
  shift
  for entry in "$@"; do echo "$out_dir/${entry%%|*}.jsonl"; done
}

# train_model CONF EXP DATA [catt train flags]...: train into EXP (resuming an interrupted run)
# unless EXP/model.pt exists already; the flags follow (--set KEY=VALUE, --config, --init-from).
train_model() {
  local conf=$1 exp_dir=$2 data_dir=$3
  shift 3
  if [ -f "$exp_dir/model.pt" ]; then
    log "model $exp_dir/model.pt exists, skipping training"
  else
    catt train --config "$conf" --exp-dir "$exp_dir" --set data.dir="$data_dir" --resume "$@"
  fi
}
