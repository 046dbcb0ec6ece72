#!/usr/bin/env bash
# Real human data: fine-tune on MQR dev (split 90/10 by input, seed 0) and score its valid part
# against the identity baseline (copying the input). MQR is third-party: it is read from
# ../shared/data/mqr/dev.tsv (or the path given as $1), and everything derived from it goes to
# ignored folders (data/mqr, weights/mqr*, outputs/mqr*), never into git.
#   bash mqr.sh                 # MQR's train part alone, 3 epochs
#   MIX=1 bash mqr.sh           # the shipped pairs and MQR's train part mixed, each pair once
#   EPOCHS=2 bash mqr.sh path/to/dev.tsv
set -euo pipefail
cd "$(dirname "$0")"
TSV=${1:-../shared/data/mqr/dev.tsv}
PY=.venv/bin/python
rm -rf data/mqr  # this script's own import of the TSV, made anew each run
$PY datamod.py --from-mqr "$TSV" --json-dir data/mqr --out data/mqr/processed --valid-fraction 0.1 --seed 0
if [ "${MIX:-0}" = 1 ]; then
  RUN=mqr-mixed
  $PY datamod.py --train dataset/train.json data/mqr/train.json --valid data/mqr/valid.json --out data/mqr/mixed
  $PY finetune.py --data data/mqr/mixed --method full --out weights/$RUN --overwrite
else
  RUN=mqr
  $PY finetune.py --data data/mqr/processed --method full --recipe original --epochs "${EPOCHS:-3}" \
    --out weights/$RUN --overwrite
fi
$PY score.py --model weights/$RUN/best --data data/mqr/processed --splits valid   # -> outputs/$RUN
# For comparison, the model trained on the shipped data only (if `python finetune.py` has been run)
if [ -d weights/full/best ]; then
  $PY score.py --model weights/full/best --data data/mqr/processed --splits valid --reports outputs/full/mqr
fi
