"""After the SLURM rehearsal (tests/test_slurm.py, which runs before this module), the test cluster has left
no configuration behind: a user's later SLURM clients, and Snakemake's SLURM plugin, must not wait for a
controller that is gone (seen before: every `snakemake` call spent ~10 s in `scontrol show config`)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

CONF = Path("/etc/slurm/slurm.conf")


def test_no_test_cluster_configuration_is_left():
    assert not (CONF.exists() and "ClusterName=synthctx-test" in CONF.read_text().splitlines())


@pytest.mark.skipif(not shutil.which("scontrol") or CONF.exists(), reason="no SLURM client, or a real configuration")
def test_a_slurm_client_fails_fast_without_a_cluster():
    start = time.monotonic()
    subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=60)
    assert time.monotonic() - start < 5
