"""`dtype: auto` follows the hardware: bf16 only where it runs natively (cpuinfo excerpts written by hand)."""

from __future__ import annotations

from synthctx.hardware import native_bf16, resolve_dtype

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
