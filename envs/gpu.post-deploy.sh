#!/usr/bin/env bash
# Snakemake runs this once, inside the new env, from the working directory: the project root.
# routerlab, editable (its dependencies are pinned in gpu.yaml). GPU jobs read materialised
# models (results/models/), so the weight packages of requirements-models.txt are not needed.
set -euo pipefail
if [ ! -f pyproject.toml ]; then
    echo "envs/gpu.post-deploy.sh: run snakemake --sdm conda from the project root" >&2
    exit 1
fi
python -m pip install --no-deps -e .
