"""Three levers of the intervention and scoring stages, each timed against the old way side by side in one run.

1. Patching: the donor (real model) recorded once per example and reused by every head set, against running
   the donor's prefill again for each head set (the old PatchedRunner path). Both must give identical
   measures; the script checks that before printing the ratio.
2. Scoring forwards: one logit row kept (`logits_to_keep=1`, what the head scorer now asks for) against the LM
   head over every position.
3. Knockout: each configuration computes only the layers from its lowest knocked-out head up, replaying the
   layers below from the unmodified prefill (run_knockout), against full forwards for every configuration
   (the old loop). Where the heads sit decides the saving, so `--scores` takes a run's head scores
   (results/heads/<task>/<data>/<model>/<seed>/scores.json; default: random scores). Identical measures are
   checked before the ratio is printed.

    python benchmarks/intervention_benchmark.py [--records results/data/mdqa/test/smollm2-135m/test.jsonl]
        [--model resources/models/smollm2-135m] [--examples 2] [--head-sets 4] [--threads 1]
        [--scores FILE] [--k 1,5,10] [--draws 3] [--only patching|scoring|knockout]

The records are a run's real test split (`snakemake --cores 1 --until real_test_data` writes them); model B is
model A with its attention weights perturbed, standing in for a second fine-tuning.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def _perturbed(model_dir: Path, seed: int):
    import torch

    from synthctx.models.model_io import load_model

    model = load_model(model_dir, "float32")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "self_attn" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.02 * p.std())
    return model


def _patching(a, b, tokenizer, records, score, max_new: int, n_sets: int) -> None:
    import numpy as np

    from synthctx.interventions.experiments import measure, run_patching
    from synthctx.interventions.head_picking import patching_configurations
    from synthctx.interventions.runners import PatchedRunner, PlainRunner

    layers, heads = a.config.num_hidden_layers, a.config.num_attention_heads
    rng = np.random.default_rng(0)
    real, synthetic = {"retrieval": rng.random((layers, heads))}, {"retrieval": rng.random((layers, heads))}
    configs = patching_configurations(synthetic, real, "top_k", 0.1, 10, n_sets - 3, seed=0)
    t = time.perf_counter()  # the old run_patching: both models unpatched, then every head set with B run afresh
    measure(PlainRunner(a), tokenizer, records, score, max_new)
    measure(PlainRunner(b), tokenizer, records, score, max_new)
    old = [measure(PatchedRunner(a, b, list(c.heads)), tokenizer, records, score, max_new) for c in configs]
    old_s = time.perf_counter() - t
    t = time.perf_counter()
    _, _, rows = run_patching(a, b, tokenizer, records, configs, score, max_new)
    new_s = time.perf_counter() - t
    same = all(r["gold_logprob"] == o.gold_logprob and r["predictions"] == o.predictions for r, o in zip(rows, old))
    if not same:
        sys.exit("patching with a recorded donor differs from running the donor afresh")
    print(f"patching   donor prefill per head set {old_s:8.1f} s   recorded once per example {new_s:8.1f} s   "
          f"ratio {old_s / new_s:.2f}x   ({len(configs)} head sets; identical measures)")  # fmt: skip


def _scoring(a, tokenizer, record) -> None:
    import torch

    from synthctx.data.tasks import encode

    ids = torch.tensor([encode(tokenizer, record, record["answers"][0]).input_ids])
    times = {}
    with torch.no_grad():
        for label, keep in (("every position", 0), ("one row", 1)):
            a(input_ids=ids, use_cache=False, logits_to_keep=keep)  # warm-up
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                a(input_ids=ids, use_cache=False, logits_to_keep=keep)
                best = min(best, time.perf_counter() - t)
            times[label] = best
    every, one = times["every position"], times["one row"]
    print(f"forward    logits at every position {every:8.3f} s   one logit row {one:8.3f} s   "
          f"ratio {every / one:.2f}x   ({ids.shape[1]} tokens)")  # fmt: skip


def _knockout(a, tokenizer, records, score, max_new: int, scores: Path | None, ks: tuple[int, ...], draws: int) -> None:
    import numpy as np

    from synthctx.interventions.experiments import measure, run_knockout
    from synthctx.interventions.head_picking import knockout_configurations
    from synthctx.interventions.knockout import knockout
    from synthctx.interventions.runners import PlainRunner, first_changed_layer

    layers, heads = a.config.num_hidden_layers, a.config.num_attention_heads
    if scores:
        matrix = json.loads(scores.read_text())["head_kinds"]["retrieval"]["modes"]["teacher_forced"]["scores"]
        matrices = {"retrieval": np.asarray(matrix)}
    else:
        matrices = {"retrieval": np.random.default_rng(0).random((layers, heads))}
    configs = knockout_configurations(matrices, ks, draws, 20, seed=0)
    t = time.perf_counter()  # the old run_knockout: every configuration's prefill through every layer
    old = []
    for c in configs:
        with knockout(a, c.heads, "uniform") if c.heads else contextlib.nullcontext():
            old.append(measure(PlainRunner(a), tokenizer, records, score, max_new))
    old_s = time.perf_counter() - t
    t = time.perf_counter()
    rows = run_knockout(a, tokenizer, records, configs, "uniform", None, score, max_new)
    new_s = time.perf_counter() - t
    same = all(r["gold_logprob"] == o.gold_logprob and r["predictions"] == o.predictions for r, o in zip(rows, old))
    if not same:
        sys.exit("knockout replaying the unchanged layers differs from full forwards")
    starts = [first_changed_layer(c.heads, layers) for c in configs]
    replayed = sum(starts) / (len(starts) * layers)
    print(f"knockout   full forwards {old_s:8.1f} s   unchanged layers replayed {new_s:8.1f} s   "
          f"ratio {old_s / new_s:.2f}x   ({len(configs)} configurations, uniform; {replayed:.0%} of their prefill "
          f"layers replayed; identical measures)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=Path, default=REPO / "results/data/mdqa/test/smollm2-135m/test.jsonl")
    ap.add_argument("--model", type=Path, default=REPO / "resources/models/smollm2-135m")
    ap.add_argument("--task", default="mdqa")
    ap.add_argument("--examples", type=int, default=2)
    ap.add_argument("--head-sets", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scores", type=Path, default=None, help="a run's scores.json (knockout; default random)")
    ap.add_argument("--k", default="1,5,10", help="knockout's k values, comma-separated")
    ap.add_argument("--draws", type=int, default=3, help="knockout's random draws per control")
    ap.add_argument("--only", choices=("patching", "scoring", "knockout"), default=None)
    args = ap.parse_args()
    if not args.records.exists():
        sys.exit(f"{args.records}: no test records; run `snakemake --cores 1 --until real_test_data` first")

    import torch

    from synthctx.data.tasks import encode, get
    from synthctx.models.model_io import load_tokenizer

    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in args.records.read_text().splitlines()[: args.examples]]
    tokenizer = load_tokenizer(args.model)
    a = _perturbed(args.model, 1)
    score = get(args.task).score
    lengths = [len(encode(tokenizer, r, r["answers"][0]).input_ids) for r in records]
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, capability {capability}, {args.threads} thread(s); "
          f"{len(records)} examples of {lengths} tokens")  # fmt: skip
    if args.only in (None, "patching"):
        b = _perturbed(args.model, 2)
        _patching(a, b, tokenizer, records, score, args.max_new_tokens, args.head_sets)
    if args.only in (None, "scoring"):
        _scoring(a, tokenizer, records[0])
    if args.only in (None, "knockout"):
        ks = tuple(int(k) for k in args.k.split(","))
        _knockout(a, tokenizer, records, score, args.max_new_tokens, args.scores, ks, args.draws)


if __name__ == "__main__":
    main()
