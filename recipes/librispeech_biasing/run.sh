#!/usr/bin/env bash
# LibriSpeech rare-word biasing (Le et al. 2021): a context-aware transformer transducer trained on
# train-clean-100 (or 960 h) with per-utterance rare-word lists, decoded on test-clean and
# test-other with the published biasing lists (N = 100, 500, 1000, 2000), reported as
# WER / U-WER / B-WER per N and test set.
#
#   recipes/librispeech_biasing/run.sh --corpus DIR [--biasing-dir DIR] [--size 100h|960h|fixture]
#       [--stage N] [--stop-stage N] [--jobs N] [--boost B] [--exp-dir DIR] [--set KEY=VALUE]...
#
# Stages (each skips work that is already done, so a rerun resumes):
#   0  download LibriSpeech (lhotse download) and the biasing lists into --corpus (run it
#      explicitly: --stage 0; the default starts at 1)
#   1  Lhotse manifests, per-utterance rare-word lists and the published biasing lists
#   2  80-bin Fbank with speed perturbation (0.9, 1.1) and a BPE tokenizer (500 pieces)
#   3  train (resumes from the latest checkpoint), average, write the model file
#   4  decode test-clean and test-other: no list, and each biasing list size N
#   5  score and write report.md, report.json and distractors.png
# --corpus holds LibriSpeech/ (or is it); --biasing-dir defaults to
# CORPUS/fbai-speech/is21_deep_bias. Data goes to data/librispeech-SIZE, the experiment to
# exp/librispeech-SIZE (relative to the current directory) or --exp-dir; --set overrides a key of
# conf/SIZE.yaml for training.
set -euo pipefail

size=100h
stage=1
stop_stage=5
jobs=4
boost=2.0
corpus=""
biasing_dir=""
exp=""
overrides=()
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --biasing-dir) biasing_dir=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --boost) boost=$2; shift 2 ;;
    --exp-dir) exp=$2; shift 2 ;;
    --set) overrides+=(--set "$2"); shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
  esac
done
[ -n "$corpus" ] || { echo "run.sh: --corpus DIR is required" >&2; exit 2; }
biasing_dir=${biasing_dir:-$corpus/fbai-speech/is21_deep_bias}

conf=$recipe_dir/conf/$size.yaml
[ -f "$conf" ] || { echo "run.sh: no config for --size $size ($conf)" >&2; exit 2; }
case "$size" in
  fixture) train_parts=train-clean-100; vocab_size=64 ;;
  100h)    train_parts=train-clean-100; vocab_size=500 ;;
  960h)    train_parts=train-clean-100,train-clean-360,train-other-500; vocab_size=500 ;;
  *) echo "run.sh: --size must be 100h, 960h or fixture" >&2; exit 2 ;;
esac

data=data/librispeech-$size
exp=${exp:-exp/librispeech-$size}
log_tag=librispeech-$size
# shellcheck source=../common.sh
. "$recipe_dir/../common.sh"
mkdir -p "$exp"

if run_stage 0; then
  log "stage 0: download LibriSpeech and the biasing lists into $corpus"
  t=$(date +%s)
  mkdir -p "$corpus"
  lhotse download librispeech --full "$corpus"
  [ -d "$corpus/fbai-speech" ] || \
    git clone --depth 1 https://github.com/facebookresearch/fbai-speech "$corpus/fbai-speech"
  stage_time 0 "$t"
fi

if run_stage 1; then
  log "stage 1: manifests and biasing lists into $data"
  t=$(date +%s)
  if [ -f "$data/corpus.json" ]; then
    log "corpus $data is prepared already"
  else
    catt prepare librispeech "$corpus" --out "$data" --train-parts "$train_parts" \
      --biasing-dir "$biasing_dir" --jobs "$jobs"
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

# Conditions of one test set: no list, then for each published list size N deep biasing,
# shallow fusion (boosting) and both.
conditions=("no-context|--no-context")
sizes=$(find "$data/context" -name 'biasing_*.jsonl.gz' 2>/dev/null \
  | sed 's/.*biasing_\([0-9]*\)\.jsonl\.gz$/\1/' | sort -n || true)
for n in $sizes; do
  conditions+=(
    "deep+$n|--lists biasing_$n --deep-biasing --boost 0"
    "boost+$n|--lists biasing_$n --no-deep-biasing --boost $boost"
    "deep+boost+$n|--lists biasing_$n --deep-biasing --boost $boost"
  )
done
test_sets=(test-clean test-other)

if run_stage 4; then
  log "stage 4: decode ${test_sets[*]} under ${#conditions[@]} conditions each"
  t=$(date +%s)
  for test_set in "${test_sets[@]}"; do
    decode_conditions "$exp/model.pt" "$data" "$test_set" "$exp/decode/$test_set" \
      "$test_set/" "$jobs" "${conditions[@]}"
  done
  stage_time 4 "$t"
fi

if run_stage 5; then
  log "stage 5: report"
  t=$(date +%s)
  results=()
  for test_set in "${test_sets[@]}"; do
    mapfile -t files < <(condition_files "$exp/decode/$test_set" "${conditions[@]}")
    results+=("${files[@]}")
  done
  catt report "${results[@]}" --out "$exp"
  stage_time 5 "$t"
  log "report: $exp/report.md"
fi
