# Interventions: causal tests of the heads on the real test split. Knockout disables a model's own top-k
# heads (and, as controls, the bottom-k, random heads matched per layer, random heads from all heads) and
# re-measures F1 and the gold answer's log-probability. Patching runs a model trained on other data with
# chosen heads' contributions taken from the real-data model on the same input (shared heads, real-only
# heads, all real heads, random sets of that size) and measures how much of the gap to the real model closes.
# Held out: each job ranks the heads itself, on the first interventions.ranking_examples test records (with
# the heads stage's scorer; ranked_by generate reads the models' predictions), measures the next n_examples,
# and calibrates mean knockout on the next knockout.calibration_examples (synthctx.jobs.interventions).
# scores.json is read for the model's shape and the donor's condition only.

# The real-data model's predictions (the donor's own greedy answers, for ranked_by generate).
donor_predictions = lambda wc: f"results/eval/{_cond(wc, conditions.REAL)}/predictions.jsonl"


rule knockout:
    input:
        model="resources/models/{model}",
        weights=weights,
        records="results/data/{task}/test/{model}/test.jsonl",
        scores=f"results/heads/{COND}/scores.json",
        predictions=f"results/eval/{COND}/predictions.jsonl",
    output:
        f"results/interventions/knockout/{COND}/knockout.json",
    log:
        f"logs/interventions/knockout/{COND}.log",
    benchmark:
        f"benchmarks/knockout/{COND}.tsv"
    params:
        cfg=knockout_slice,
        weights=lambda wc, input: weights_arg(input),
        code=stage_code(
            "synthctx.jobs.interventions", "synthctx.interventions.experiments", "synthctx.heads.scoring",
            "synthctx.models.model_io", "synthctx.data.records",
        ),
    threads: 1
    resources:
        mem_mb=model_mem_mb("interventions"),
        runtime=knockout_runtime,
        gpu=1,
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx knockout --config {params.cfg:q} --threads {threads} --task {wildcards.task} "
        "--data {wildcards.data} --model {wildcards.model} --seed {wildcards.seed} --model-dir {input.model} "
        "{params.weights} --records {input.records} --scores {input.scores} --predictions {input.predictions} "
        "--out {output} > {log} 2>&1"


rule patch:
    input:
        model="resources/models/{model}",
        weights=weights,
        donor=reference_weights,
        records="results/data/{task}/test/{model}/test.jsonl",
        scores=f"results/heads/{COND}/scores.json",
        reference=reference_scores,
        predictions=f"results/eval/{COND}/predictions.jsonl",
        donor_predictions=donor_predictions,
    output:
        f"results/interventions/patching/{COND}/patching.json",
    log:
        f"logs/interventions/patching/{COND}.log",
    benchmark:
        f"benchmarks/patching/{COND}.tsv"
    params:
        cfg=patching_slice,
        weights=lambda wc, input: weights_arg(input),
        code=stage_code(
            "synthctx.jobs.interventions", "synthctx.interventions.experiments", "synthctx.heads.scoring",
            "synthctx.models.model_io", "synthctx.data.records",
        ),
    threads: 1
    resources:
        mem_mb=model_mem_mb("interventions", models=2),
        runtime=patching_runtime,
        gpu=1,
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx patch --config {params.cfg:q} --threads {threads} --task {wildcards.task} "
        "--data {wildcards.data} --model {wildcards.model} --seed {wildcards.seed} --model-dir {input.model} "
        "{params.weights} --donor {input.donor} --records {input.records} --scores {input.scores} "
        "--reference {input.reference} --predictions {input.predictions} "
        "--donor-predictions {input.donor_predictions} --out {output} > {log} 2>&1"
