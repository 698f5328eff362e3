#!/usr/bin/env bash
# The smart-home recipe: a synthetic multilingual corpus (espeak-ng), a context-aware transformer
# transducer trained on it, decoded with and without the households' phrase lists, and a report.
#
#   recipes/smarthome/run.sh [--size micro|tiny|base] [--stage N] [--stop-stage N] [--jobs N]
#                            [--boost W] [--exp-dir DIR] [--set KEY=VALUE]... [--biasing-stage]
#                            [--char-head]
#
# Stages (each skips work that is already done, so a rerun resumes):
#   0  synthesize the corpus: WAVs, Lhotse manifests, household phrase lists
#   1  80-bin Fbank features and the BPE tokenizer (intent and slot tags as single tokens)
#   2  train (resumes from the latest checkpoint), average, write the model file
#   3  tune the boost and the transducer's weight in list resolution on dev (catt tune), and
#      the boost without resolution, then decode the test split under every context condition
#      with them
#   4  score and write report.md, report.json and distractors.png
# Data goes to data/smarthome-SIZE, the experiment to exp/smarthome-SIZE (relative to the
# current directory) or --exp-dir. --set overrides a key of conf/SIZE.yaml for training (e.g.
# --set model.encoder.conv_kernel=0): an ablation on the same data, in its own --exp-dir. With
# --biasing-stage (or --char-head) it applies to those stages too (their models must match),
# train.* keys included: change those of one stage in a copy of its config instead.
# --jobs N: processes for synthesis, features, tuning and decoding (default 2, the cores).
# --boost W fixes the boost of every mode instead of tuning it. --biasing-stage ends stage 2
# with the biasing stage (conf/biasing.yaml: the list pointer goes on learning on the adapt
# split, the rest frozen) into EXP/biasing, where stages 3-4 then write. --char-head ends it
# with the character head stage (conf/char_head.yaml: a character CTC head learns on the frozen
# model, for list resolution) into OUT/char-head (OUT: EXP or EXP/biasing), where stages 3-4
# then write.
set -euo pipefail

size=tiny
stage=0
stop_stage=4
jobs=2
boost=""
exp=""
biasing_stage=0
char_head=0
overrides=()
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --boost) boost=$2; shift 2 ;;
    --exp-dir) exp=$2; shift 2 ;;
    --set) overrides+=(--set "$2"); shift 2 ;;
    --biasing-stage) biasing_stage=1; shift ;;
    --char-head) char_head=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
  esac
done

conf=$recipe_dir/conf/$size.yaml
[ -f "$conf" ] || { echo "run.sh: no config for --size $size ($conf)" >&2; exit 2; }
case "$size" in
  micro) vocab_size=64 ;;
  tiny)  vocab_size=256 ;;
  base)  vocab_size=500 ;;
  *) echo "run.sh: --size must be micro, tiny or base" >&2; exit 2 ;;
esac
boosts=${boost:-0.5,1,1.5,2}  # the boosts stage 3 tries on dev

data=data/smarthome-$size
exp=${exp:-exp/smarthome-$size}
out=$exp  # the model stages 3-4 read ($out/model.pt) and where they write
[ "$biasing_stage" = 1 ] && out=$exp/biasing
stages_conf=()  # the stages' configs laid over $conf, in order
[ "$biasing_stage" = 1 ] && stages_conf+=(--config "$recipe_dir/conf/biasing.yaml")
trained=$out    # the model the character head stage starts from
[ "$char_head" = 1 ] && out=$out/char-head
log_tag=smarthome-$size
# shellcheck source=../common.sh
. "$recipe_dir/../common.sh"
mkdir -p "$exp"

if run_stage 0; then
  log "stage 0: synthesize the corpus into $data"
  t=$(date +%s)
  catt prepare smarthome --out "$data" --size "$size" --jobs "$jobs"
  stage_time 0 "$t"
fi

if run_stage 1; then
  log "stage 1: Fbank features and a BPE-$vocab_size tokenizer"
  t=$(date +%s)
  catt compute-fbank "$data" --jobs "$jobs"
  catt train-bpe "$data" --vocab-size "$vocab_size"
  stage_time 1 "$t"
fi

if run_stage 2; then
  log "stage 2: train ($conf) into $exp"
  t=$(date +%s)
  train_model "$conf" "$exp" "$data" ${overrides[@]+"${overrides[@]}"}
  if [ "$biasing_stage" = 1 ]; then
    log "stage 2: the biasing stage (conf/biasing.yaml) into $trained"
    train_model "$conf" "$trained" "$data" "${stages_conf[@]}" \
      --init-from "$exp/model.pt" ${overrides[@]+"${overrides[@]}"}
  fi
  if [ "$char_head" = 1 ]; then
    log "stage 2: the character head stage (conf/char_head.yaml) into $out"
    train_model "$conf" "$out" "$data" ${stages_conf[@]+"${stages_conf[@]}"} \
      --config "$recipe_dir/conf/char_head.yaml" --init-from "$trained/model.pt" \
      ${overrides[@]+"${overrides[@]}"}
  fi
  stage_time 2 "$t"
fi

if run_stage 3; then
  log "stage 3: tune the boost ($boosts) and the transducer's weight on dev"
  t=$(date +%s)
  catt tune --model "$out/model.pt" --data "$data" --split dev --out "$out/tune" --boosts "$boosts" \
    --save-to-model --jobs "$jobs"
fi
# The weights stage 3 chose (a stage-4-only run needs the condition names alone).
boost=${boosts%%,*}
resolve_transducer=0.25
plain_boost=$boost  # the boost of the modes without resolution, tuned on their own
if [ -f "$out/tune/tuning.json" ]; then
  boost=$(json_field "$out/tune/tuning.json" boost)
  resolve_transducer=$(json_field "$out/tune/tuning.json" resolve_transducer)
  plain_boost=$(json_field "$out/tune/tuning.json" boost_without_resolution "$boost")
fi

# name | catt decode flags. The goals are read at 100 distractors; the distractor sweep is run
# for the best mode, deep biasing + boosting + list resolution (the CTC head and the transducer
# rescore contact and device values against the list).
resolve="--resolve --resolve-transducer $resolve_transducer"
conditions=(
  "no-context|--no-context"
  "deep|--deep-biasing --boost 0"
  "deep+100|--deep-biasing --boost 0 --distractors 100"
  "boost|--no-deep-biasing --boost $plain_boost"
  "deep+boost|--deep-biasing --boost $plain_boost"
  "deep+boost+100|--deep-biasing --boost $plain_boost --distractors 100"
  "deep+boost+resolve+10|--deep-biasing --boost $boost $resolve --distractors 10"
  "deep+boost+resolve+100|--deep-biasing --boost $boost $resolve --distractors 100"
  "deep+boost+resolve+1000|--deep-biasing --boost $boost $resolve --distractors 1000"
)

if run_stage 3; then
  log "stage 3: decode the test split under ${#conditions[@]} conditions" \
    "(boost $boost, transducer weight $resolve_transducer; without resolution, boost $plain_boost)"
  decode_conditions "$out/model.pt" "$data" test "$out/decode" "" "$jobs" "${conditions[@]}"
  stage_time 3 "$t"
fi

if run_stage 4; then
  log "stage 4: report"
  t=$(date +%s)
  mapfile -t results < <(condition_files "$out/decode" "${conditions[@]}")
  catt report "${results[@]}" --out "$out"
  stage_time 4 "$t"
  log "report: $out/report.md"
fi
