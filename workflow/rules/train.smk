# Fine-tuning: LoRA on the attention projections, loss on the answer tokens; snapshots every few steps for
# head recall over training. Checkpoints live under
# resources/checkpoints (outside the outputs) so a killed or retried job resumes, and only the same run: a
# checkpoint records the train slice, seed, training records, base model files and code digest it was made with.


rule fine_tune:
    input:
        model="resources/models/{model}",
        records=train_data,
    output:
        weights=directory(f"results/train/{COND}/weights"),
        snapshots=directory(f"results/train/{COND}/snapshots"),
    log:
        f"logs/train/{COND}.log",
    benchmark:
        f"benchmarks/train/{COND}.tsv"
    params:
        cfg=section("train"),
        checkpoints=f"resources/checkpoints/{COND}",
        code=stage_code("synthctx.jobs.train", "synthctx.models.train", "synthctx.models.model_io", "synthctx.data.records"),
    threads: 1
    resources:
        mem_mb=model_mem_mb("train"),
        runtime=train_runtime,
        gpu=1,
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx train --config {params.cfg:q} --threads {threads} --task {wildcards.task} "
        "--data {wildcards.data} --model {wildcards.model} "
        "--seed {wildcards.seed} --model-dir {input.model} --records {input.records} --out {output.weights} "
        "--snapshots {output.snapshots} --checkpoint-dir {params.checkpoints} --code {params.code} > {log} 2>&1"
