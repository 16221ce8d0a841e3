"""`dtype: auto` follows the hardware: bf16 only where it runs natively (cpuinfo excerpts written by hand), and
it is resolved once, on the machine that plans the run."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from synthctx.plan.config import ConfigError, validate_config
from synthctx.plan.hardware import native_bf16, resolve_dtype
from workflow_helpers import REPO, copy_workflow, snakemake

# An AMD EPYC with AVX2 only (the machine where bf16 ran ~30x slower than fp32), and a Sapphire Rapids Xeon.
AVX2_ONLY = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx avx f16c fma avx2 bmi2
"""
AMX = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile amx_int8
"""
AVX512_NO_BF16 = "flags\t\t: sse sse2 avx avx2 avx512f avx512bw avx512vl avx512_vnni\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16 i8mm\n"


def test_cpu_without_native_bf16_gets_float32():
    assert resolve_dtype("auto", AVX2_ONLY, gpus=[]) == "float32"
    assert resolve_dtype("auto", AVX512_NO_BF16, gpus=[]) == "float32"
    assert native_bf16(AVX2_ONLY, gpus=[]) == (False, "CPU without native bf16 (no AVX512-BF16/AMX)")


def test_cpu_with_native_bf16_gets_bfloat16():
    assert resolve_dtype("auto", AMX, gpus=[]) == "bfloat16"
    assert resolve_dtype("auto", ARM_BF16, gpus=[]) == "bfloat16"
    assert native_bf16(AMX, gpus=[])[1] == "CPU flags amx_bf16, avx512_bf16"


def test_the_gpu_decides_when_there_is_one():
    assert resolve_dtype("auto", AVX2_ONLY, gpus=[9.0]) == "bfloat16"  # H100/H200
    assert resolve_dtype("auto", AMX, gpus=[7.0]) == "float32"  # V100: no bf16 tensor cores
    assert resolve_dtype("auto", AMX, gpus=[8.0, 7.5]) == "float32"  # the weakest visible GPU decides


def test_an_explicit_dtype_is_kept():
    assert resolve_dtype("bfloat16", AVX2_ONLY, gpus=[]) == "bfloat16"
    assert resolve_dtype("float32", AMX, gpus=[]) == "float32"


# A cluster job step re-reads the workflow on its node; `auto` must stay what the planning machine resolved.
# The workflow hands that answer to jobs in SYNTHCTX_AUTO_DTYPE: a dry run with the variable set to the
# opposite of this machine's answer stands in for a node whose hardware differs from the submit host's.


def _planned_dtypes(work, env_value):
    env = {k: v for k, v in os.environ.items() if k != "SYNTHCTX_AUTO_DTYPE"}
    if env_value is not None:
        env["SYNTHCTX_AUTO_DTYPE"] = env_value
    target = "results/eval/mdqa/real/smollm2-135m/0/summary.json"
    run = snakemake(work, "-n", "-p", "--forceall", target, env=env, timeout=120)
    return run, set(re.findall(r'"dtype": "(\w+)"', run.stdout))


def test_jobs_use_the_planning_machines_dtype_not_their_own(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    here = resolve_dtype("auto")
    other = "float32" if here == "bfloat16" else "bfloat16"
    run, planned = _planned_dtypes(work, None)
    assert run.returncode == 0, run.stderr[-2000:]
    assert planned == {here}  # planning resolves on this machine
    run, planned = _planned_dtypes(work, other)
    assert run.returncode == 0, run.stderr[-2000:]
    assert planned == {other}  # a job step inherits the plan, whatever its own hardware
    run, _ = _planned_dtypes(work, "fp8")
    assert run.returncode != 0
    assert "SYNTHCTX_AUTO_DTYPE='fp8'" in run.stderr + run.stdout


def test_an_explicit_dtype_is_not_overridden_by_the_planned_auto():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    default = REPO / "config/config.yaml"
    config = yaml.safe_load(default.read_text())
    config["heads"]["dtype"] = "float16"
    validate_config(config, schema, [default], auto_dtype="float32")
    assert [config[s]["dtype"] for s in ("train", "evaluate", "heads", "interventions")] == [
        "float32", "float32", "float16", "float32"
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="'int8'"):
        validate_config(yaml.safe_load(default.read_text()), schema, [default], auto_dtype="int8")
