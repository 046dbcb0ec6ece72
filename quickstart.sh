#!/usr/bin/env bash
# The whole pipeline on the embedded model, offline, as a QUICK PRESET: a 300-pair subset of the shipped
# data, 2 epochs. Its figures show the pipeline working, not the model's best quality (README.md gives the
# full reproduction). Everything it writes is the run "quick": data/quick, weights/quick, outputs/quick.
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh
PY=.venv/bin/python
$PY datamod.py --limit-train 300 --limit-valid 50 --out data/quick
$PY finetune.py --data data/quick --method full --epochs 2 --out weights/quick --overwrite
$PY score.py --model weights/quick/best --data data/quick
$PY quantize.py --model weights/quick/best --limit 50 --latency-questions 10
$PY infer.py --model weights/quick/int8 "hey so um waht is teh capital of frnace? thx" \
  "hi!! how do i cancel order 4417 i placed yesterday, i dont want it anymore"
