# Evaluation on the real task's test split (the same records for every condition of a task and model).


rule evaluate:
    input:
        model="resources/models/{model}",
        weights=weights,
        records="results/data/{task}/test/{model}/test.jsonl",
    output:
        predictions=f"results/eval/{COND}/predictions.jsonl",
        summary=f"results/eval/{COND}/summary.json",
    log:
        f"logs/eval/{COND}.log",
    benchmark:
        f"benchmarks/eval/{COND}.tsv"
    params:
        cfg=evaluate_slice,
        weights=lambda wc, input: weights_arg(input),
        code=stage_code(
            "synthctx.jobs.evaluate", "synthctx.evaluation.evaluate", "synthctx.models.model_io", "synthctx.data.records"
        ),
    threads: 1
    resources:
        mem_mb=model_mem_mb("evaluate"),
        runtime=evaluate_runtime,
        gpu=1,
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx evaluate --config {params.cfg:q} --threads {threads} --task {wildcards.task} "
        "--data {wildcards.data} --model {wildcards.model} "
        "--seed {wildcards.seed} --model-dir {input.model} {params.weights} --records {input.records} "
        "--predictions {output.predictions} --summary {output.summary} > {log} 2>&1"
