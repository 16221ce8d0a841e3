# Heads: the retrieval (and insight) score of every attention head on the real test examples, also at the
# training snapshots; then head sets, the heads themselves, and their overlap with the heads of the model
# fine-tuned on real data (recall), at the end of training and over its steps.


rule score_heads:
    input:
        model="resources/models/{model}",
        weights=weights,
        records="results/data/{task}/test/{model}/test.jsonl",
        predictions=f"results/eval/{COND}/predictions.jsonl",
        snapshots=snapshots,
    output:
        scores=f"results/heads/{COND}/scores.json",
        by_step=f"results/heads/{COND}/scores_by_step.json",
    log:
        f"logs/heads/{COND}.log",
    benchmark:
        f"benchmarks/heads/{COND}.tsv"
    params:
        cfg=section("heads"),
        weights=lambda wc, input: weights_arg(input),
        snapshots=lambda wc, input: f"--snapshots {input.snapshots}" if input.get("snapshots") else "",
        code=stage_code(
            "synthctx.jobs.heads",
            "synthctx.jobs.model_job",
            "synthctx.heads.scoring",
            "synthctx.models.model_io",
            "synthctx.models.train",
            "synthctx.data.records",
        ),
    threads: 1
    resources:
        mem_mb=model_mem_mb("heads"),
        runtime=score_heads_runtime,
        gpu=1,
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx score-heads --config {params.cfg:q} --threads {threads} --task {wildcards.task} "
        "--data {wildcards.data} --model {wildcards.model} "
        "--seed {wildcards.seed} --model-dir {input.model} {params.weights} --records {input.records} "
        "--predictions {input.predictions} {params.snapshots} --out {output.scores} --by-step {output.by_step} "
        "> {log} 2>&1"


rule head_sets:
    input:
        scores=f"results/heads/{COND}/scores.json",
        by_step=f"results/heads/{COND}/scores_by_step.json",
        reference=reference_scores,
    output:
        f"results/head_sets/{COND}/comparison.json",
    log:
        f"logs/head_sets/{COND}.log",
    params:
        cfg=section("head_sets"),
        code=job_digest("synthctx.jobs.heads", "synthctx.heads.head_sets"),
    # a second of numpy on two score files: on a cluster it runs on the submit host, not as a SLURM job
    localrule: True
    resources:
        runtime=runtime(10),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx head-sets --config {params.cfg:q} --scores {input.scores} --by-step {input.by_step} "
        "--reference {input.reference} "
        "--out {output} > {log} 2>&1"
