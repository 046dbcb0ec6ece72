#!/usr/bin/env bash
# The whole pipeline on the embedded model, offline, as a QUICK PRESET that ends within about
# 15 minutes on a 2-core CPU: a 300-pair subset of the shipped data, 2 epochs. Its figures show
# the pipeline working, not the model's best quality: README.md gives the full reproduction.
set -euo pipefail
cd "$(dirname "$0")"
bash setup.sh
PY=.venv/bin/python
$PY datamod.py --limit-train 300 --limit-valid 50 --out data/quick
$PY finetune.py --data data/quick --method full --epochs 2 --out weights/quick --outputs outputs/quick --overwrite
$PY evaluate.py --model weights/quick/best --dataset data/quick --outputs outputs/quick
$PY quantize.py --model weights/quick/best --limit 50 --latency-questions 10 --outputs outputs/quick
$PY infer.py --model weights/quick/int8 "hey so um waht is teh capital of frnace? thx" \
  "hi!! how do i cancel order 4417 i placed yesterday, i dont want it anymore"
