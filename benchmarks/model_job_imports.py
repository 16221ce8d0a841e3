"""What a model job's imports cost with and without bitsandbytes hidden from peft, side by side.

    python benchmarks/model_job_imports.py [--runs 5]

Every model stage imports torch, transformers' modeling code and peft before its work (`synthctx.cli.main`
counts them as start-up). peft imports bitsandbytes whenever it is installed, and bitsandbytes imports torch's
compiler; only QLoRA training uses it, so `python -m synthctx` hides it from every other model stage. Each
run is a fresh interpreter importing exactly that set; the two variants alternate so that load on the machine
falls on both alike. Prints each variant's median and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

IMPORTS = "import torch, transformers.modeling_utils, peft"
VARIANTS = {
    "bitsandbytes imported (before)": IMPORTS,
    "bitsandbytes hidden (after)": f"import sys; sys.modules.setdefault('bitsandbytes', None); {IMPORTS}",
}


def timed(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for code in VARIANTS.values():  # warm the file cache once each
        timed(code)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, code in VARIANTS.items():
            times[name].append(timed(code))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        print(f"{name:32s} median {medians[name]:.2f} s  runs {', '.join(f'{t:.2f}' for t in ts)}")
    before, after = medians.values()
    print(f"ratio before/after: {before / after:.2f}x, {before - after:.2f} s less per model job")


if __name__ == "__main__":
    main()
