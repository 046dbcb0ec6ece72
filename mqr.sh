#!/usr/bin/env bash
# Real human data: fine-tune on MQR dev (split 90/10 by input, seed 0) and score its valid part
# against the identity baseline (copying the input). MQR is third-party: it is read from
# ../shared/data/mqr/dev.tsv (or the path given as $1), and everything derived from it goes to
# ignored folders (data/mqr, weights/mqr*, outputs/mqr*), never into git.
#   bash mqr.sh                          # the base model on MQR's train part alone, 3 epochs
#   FROM=weights/full/best bash mqr.sh   # the shipped model, further on MQR's train part and as many shipped pairs
#   MIX=1 bash mqr.sh                    # the shipped pairs and MQR's train part mixed, each pair once
#   EPOCHS=2 bash mqr.sh path/to/dev.tsv
set -euo pipefail
cd "$(dirname "$0")"
TSV=${1:-../shared/data/mqr/dev.tsv}
PY=.venv/bin/python
rm -rf data/mqr  # this script's own import of the TSV, made anew each run
$PY datamod.py --from-mqr "$TSV" --json-dir data/mqr --out data/mqr/processed --valid-fraction 0.1 --seed 0
if [ -n "${FROM:-}" ]; then
  # Each MQR pair once beside as many shipped pairs (the first N: every family in its share), so the model
  # keeps what it learnt: trained further on MQR alone, it rewrote 14 of 68 clean questions.
  RUN=mqr-from-$(basename "$(dirname "$FROM")")   # weights/full/best -> mqr-from-full
  N=$($PY -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' data/mqr/train.json)
  $PY datamod.py --train data/mqr/train.json dataset/train.json --limit-train $((2 * N)) \
    --valid data/mqr/valid.json --out data/mqr/from
  $PY finetune.py --data data/mqr/from --model "$FROM" --method full --out weights/$RUN --overwrite
elif [ "${MIX:-0}" = 1 ]; then
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
