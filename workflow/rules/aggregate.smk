# Aggregation across conditions, correlation of head recall with real-task F1, and the report figures.


rule aggregate:
    input:
        summaries=per_condition(f"results/eval/{COND}/summary.json"),
        comparisons=per_condition(f"results/head_sets/{COND}/comparison.json"),
    output:
        report(
            "results/aggregate/conditions.csv",
            caption="../report/conditions.rst",
            category="Tables",
        ),
    log:
        "logs/aggregate/conditions.log",
    params:
        code=code_digest("synthctx.aggregate", shallow=(CLI,)),
    resources:
        runtime=runtime(15),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx aggregate --summaries {input.summaries} --comparisons {input.comparisons} "
        "--out {output} > {log} 2>&1"


rule correlate:
    input:
        "results/aggregate/conditions.csv",
    output:
        report(
            "results/aggregate/correlations.csv",
            caption="../report/correlations.rst",
            category="Tables",
        ),
    log:
        "logs/aggregate/correlations.log",
    params:
        cfg=section("correlation"),
        code=code_digest("synthctx.aggregate", "synthctx.correlation", shallow=(CLI,)),
    resources:
        runtime=runtime(60),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx correlate --config {params.cfg:q} --table {input} --out {output} > {log} 2>&1"


rule figures:
    input:
        table="results/aggregate/conditions.csv",
        correlations="results/aggregate/correlations.csv",
        scores=per_condition(f"results/heads/{COND}/scores.json"),
    output:
        f1=report(
            FIGURES["f1"],
            caption="../report/f1.rst",
            category="Figures",
        ),
        heatmaps=report(
            FIGURES["heatmaps"],
            caption="../report/heatmaps.rst",
            category="Figures",
        ),
        scatter=report(
            FIGURES["scatter"],
            caption="../report/scatter.rst",
            category="Figures",
        ),
    log:
        "logs/figures/figures.log",
    params:
        cfg=lambda wc: as_json({"modes": config["heads"]["modes"], "head_kinds": HEAD_KINDS}),
        code=code_digest("synthctx.figures", shallow=(CLI,)),
    resources:
        runtime=runtime(15),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx figures --config {params.cfg:q} --table {input.table} --correlations {input.correlations} "
        "--scores {input.scores} --f1-figure {output.f1} --heatmaps {output.heatmaps} --scatter {output.scatter} > {log} 2>&1"
