"""The environment every job inherits from the scheduler: this checkout's package and interpreter, offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def prepare_job_environment(workflow_dir: Path) -> None:
    """Put `<workflow_dir>/src` on PYTHONPATH and the scheduler's interpreter first on PATH.

    Rules call `python -m synthctx`; this makes that the checkout's code run by the Python that runs
    Snakemake (under --sdm conda, the rule's environment is activated in front of it instead). The hub
    libraries are switched offline (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1)."""
    src = str(Path(workflow_dir) / "src")
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *rest])
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # Every job is offline, whatever the submitting shell says (compute nodes must not download); only the
    # local rules that download (prepare_model, fetch_hub_data) lift it, in their own shell command.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
