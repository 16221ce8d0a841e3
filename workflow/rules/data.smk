# Data: the base model prepared once, a hub data set fetched once, the real task's test and training splits,
# and the synthetic training sets. Lengths are measured in the model's tokens, so data carry the model segment.
# Only the two local rules (prepare_model, fetch_hub_data) run on the submit host with the network allowed
# (HF_HUB_OFFLINE=0 in their shell); every other job runs offline on the local copies.


rule prepare_model:
    output:
        directory("resources/models/{model}"),
    log:
        "logs/prepare_model/{model}.log",
    params:
        spec=model_slice,
        code=job_digest("synthctx.jobs.data", "synthctx.models.model_io", "synthctx.data.hub"),
    localrule: True
    resources:
        runtime=runtime(120),
    conda:
        "../../envs/torch.yaml"
    shell:
        "HF_HUB_OFFLINE=0 python -m synthctx prepare-model --config {params.spec:q} --model {wildcards.model} "
        "--out {output} > {log} 2>&1"


rule fetch_hub_data:
    output:
        "resources/data/{task}/hub/{split}.jsonl.gz",
    log:
        "logs/fetch_hub_data/{task}/{split}.log",
    wildcard_constraints:
        split=_alternatives(SPLITS),
    params:
        source=hub_fetch_slice,
        code=job_digest("synthctx.jobs.data", "synthctx.data.hub"),
    localrule: True
    resources:
        runtime=runtime(60),
    conda:
        "../../envs/torch.yaml"
    shell:
        "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -m synthctx fetch-hub-data --config {params.source:q} "
        "--task {wildcards.task} --split {wildcards.split} --out {output} > {log} 2>&1"


rule real_test_data:
    input:
        model="resources/models/{model}",
        files=real_data_files,
    output:
        "results/data/{task}/test/{model}/test.jsonl",
    log:
        "logs/data/{task}/test/{model}.log",
    params:
        cfg=real_data_slice,
        folders=real_data_folders,
        n=lambda wc: config["tasks"][wc.task]["n_test"],
        seed=config["data_seed"],
        code=data_code,
    resources:
        runtime=runtime(60),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx real-data --config {params.cfg:q} --task {wildcards.task} --model-dir {input.model} --split test "
        "--n {params.n} --seed {params.seed} --out {output} > {log} 2>&1"


rule real_train_data:
    input:
        model="resources/models/{model}",
        files=real_data_files,
    output:
        "results/data/{task}/real/{model}/{seed}/train.jsonl",
    log:
        "logs/data/{task}/real/{model}/{seed}.log",
    params:
        cfg=real_data_slice,
        folders=real_data_folders,
        n=lambda wc: config["tasks"][wc.task]["n_train_real"],
        code=data_code,
    resources:
        runtime=runtime(60),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx real-data --config {params.cfg:q} --task {wildcards.task} --model-dir {input.model} --split train "
        "--n {params.n} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule real_limited_train_data:
    input:
        "results/data/{task}/real/{model}/{seed}/train.jsonl",
    output:
        "results/data/{task}/real-limited/{model}/{seed}/train.jsonl",
    log:
        "logs/data/{task}/real-limited/{model}/{seed}.log",
    params:
        n=lambda wc: config["tasks"][wc.task]["n_train"],
        code=job_digest("synthctx.jobs.data", "synthctx.data.records"),
    resources:
        runtime=runtime(10),
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx limit-data --records {input} --n {params.n} --out {output} > {log} 2>&1"


rule synthetic_train_data:
    input:
        model="resources/models/{model}",
    output:
        "results/data/{task}/{data}/{model}/{seed}/train.jsonl",
    log:
        "logs/data/{task}/{data}/{model}/{seed}.log",
    wildcard_constraints:
        data=_alternatives(f"{n}-{h}" for n in conditions.LEVELS for h in conditions.LEVELS),
    params:
        cfg=synthetic_slice,
        n=lambda wc: config["tasks"][wc.task]["n_train"],
        code=data_code,
    resources:
        runtime=synthetic_runtime,
    conda:
        "../../envs/torch.yaml"
    shell:
        "python -m synthctx synthetic-data --config {params.cfg:q} --task {wildcards.task} --data {wildcards.data} "
        "--model-dir {input.model} --n {params.n} --seed {wildcards.seed} "
        "--out {output} > {log} 2>&1"
