#!/usr/bin/env bash
# Fluent Speech Commands: a transformer transducer that emits the intent frame (action, object,
# location) as one intent tag before the words, scored by intent (full-frame) accuracy and WER.
#
#   recipes/fluent_speech_commands/run.sh --corpus DIR [--size gpu|fixture] [--stage N]
#       [--stop-stage N] [--jobs N] [--exp-dir DIR] [--set KEY=VALUE]...
#
# Stages (each skips work that is already done, so a rerun resumes):
#   1  Lhotse manifests (prepare_slu): splits train, dev (FSC's valid) and test
#   2  80-bin Fbank with speed perturbation (0.9, 1.1) and a BPE tokenizer with the intent tags
#   3  train (resumes from the latest checkpoint), average, write the model file
#   4  decode the test split (no phrase lists: FSC has none)
#   5  score and write report.md, report.json and distractors.png
# --corpus is the fluent_speech_commands_dataset folder (or its parent); FSC is distributed
# under its own licence and must be obtained from its publisher. Data goes to data/fsc-SIZE, the
# experiment to exp/fsc-SIZE (relative to the current directory) or --exp-dir; --set overrides a
# key of conf/SIZE.yaml for training.
set -euo pipefail

size=gpu
stage=1
stop_stage=5
jobs=4
corpus=""
exp=""
overrides=()
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --exp-dir) exp=$2; shift 2 ;;
    --set) overrides+=(--set "$2"); shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
  esac
done
[ -n "$corpus" ] || { echo "run.sh: --corpus DIR is required" >&2; exit 2; }

conf=$recipe_dir/conf/$size.yaml
[ -f "$conf" ] || { echo "run.sh: no config for --size $size ($conf)" >&2; exit 2; }
case "$size" in
  fixture) vocab_size=64 ;;
  gpu)     vocab_size=256 ;;
  *) echo "run.sh: --size must be gpu or fixture" >&2; exit 2 ;;
esac

data=data/fsc-$size
exp=${exp:-exp/fsc-$size}
log_tag=fsc-$size
# shellcheck source=../common.sh
. "$recipe_dir/../common.sh"
mkdir -p "$exp"
conditions=("no-context|--no-context")

if run_stage 1; then
  log "stage 1: manifests into $data"
  t=$(date +%s)
  if [ -f "$data/corpus.json" ]; then
    log "corpus $data is prepared already"
  else
    catt prepare fsc "$corpus" --out "$data"
  fi
  stage_time 1 "$t"
fi

if run_stage 2; then
  log "stage 2: Fbank features (speed perturbation) and a BPE-$vocab_size tokenizer"
  t=$(date +%s)
  catt compute-fbank "$data" --jobs "$jobs" --speed-perturb
  catt train-bpe "$data" --vocab-size "$vocab_size"
  stage_time 2 "$t"
fi

if run_stage 3; then
  log "stage 3: train ($conf) into $exp"
  t=$(date +%s)
  train_model "$conf" "$exp" "$data" ${overrides[@]+"${overrides[@]}"}
  stage_time 3 "$t"
fi

if run_stage 4; then
  log "stage 4: decode the test split"
  t=$(date +%s)
  decode_conditions "$exp/model.pt" "$data" test "$exp/decode" "" "$jobs" "${conditions[@]}"
  stage_time 4 "$t"
fi

if run_stage 5; then
  log "stage 5: report"
  t=$(date +%s)
  mapfile -t results < <(condition_files "$exp/decode" "${conditions[@]}")
  catt report "${results[@]}" --out "$exp"
  stage_time 5 "$t"
  log "report: $exp/report.md"
fi
