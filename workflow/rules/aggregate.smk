# Aggregation across conditions and seeds: one table of F1 beside head recall, its correlation (per seed and
# pooled over seeds), a leave-one-condition-out prediction of F1 from recall, the knockout and patching
# tables, the report figures, and each of the paper's claims with this run's numbers and a verdict.


rule aggregate:
    input:
        summaries=per_condition(f"results/eval/{COND}/summary.json"),
        comparisons=per_condition(f"results/head_sets/{COND}/comparison.json"),
        predictions=per_condition(f"results/eval/{COND}/predictions.jsonl"),
    output:
        table=report(TABLES["conditions"], caption="../report/conditions.rst", category="Tables"),
        recall_by_step=TABLES["recall_by_step"],
        head_layers=TABLES["head_layers"],
        examples=TABLES["examples"],
    log:
        "logs/aggregate/conditions.log",
    params:
        code=job_digest("synthctx.jobs.aggregate", "synthctx.analysis.aggregate"),
    resources:
        runtime=runtime(15),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx aggregate --summaries {input.summaries} --comparisons {input.comparisons} "
        "--predictions {input.predictions} --out {output.table} --recall-by-step {output.recall_by_step} "
        "--head-layers {output.head_layers} --examples {output.examples} > {log} 2>&1"


rule correlate:
    input:
        TABLES["conditions"],
    output:
        correlations=report(TABLES["correlations"], caption="../report/correlations.rst", category="Tables"),
        means=report(TABLES["condition_means"], caption="../report/recall_seeds.rst", category="Tables"),
        leave_one_out=report(TABLES["leave_one_out"], caption="../report/leave_one_out.rst", category="Tables"),
    log:
        "logs/aggregate/correlations.log",
    params:
        cfg=section("correlation"),
        code=job_digest(
            "synthctx.jobs.aggregate",
            "synthctx.analysis.aggregate",
            "synthctx.analysis.correlation",
            "synthctx.analysis.paired",
            "synthctx.analysis.prediction",
        ),
    resources:
        runtime=runtime(60),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx correlate --config {params.cfg:q} --table {input} --out {output.correlations} "
        "--means {output.means} --leave-one-out {output.leave_one_out} > {log} 2>&1"


rule intervention_tables:
    input:
        knockouts=per_intervention("knockout", f"results/interventions/knockout/{COND}/knockout.json"),
        patchings=per_intervention("patching", f"results/interventions/patching/{COND}/patching.json"),
    output:
        knockout=report(TABLES["knockout"], caption="../report/knockout.rst", category="Tables"),
        patching=report(TABLES["patching"], caption="../report/patching.rst", category="Tables"),
        knockout_examples=TABLES["knockout_examples"],
        patching_examples=TABLES["patching_examples"],
    log:
        "logs/aggregate/interventions.log",
    params:
        cfg=section("correlation"),
        code=job_digest("synthctx.jobs.aggregate", "synthctx.analysis.aggregate"),
    resources:
        runtime=runtime(15),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx intervention-tables --config {params.cfg:q} --knockouts {input.knockouts} "
        "--patchings {input.patchings} --knockout-table {output.knockout} --patching-table {output.patching} "
        "--knockout-examples {output.knockout_examples} --patching-examples {output.patching_examples} > {log} 2>&1"


rule figures:
    input:
        table=TABLES["conditions"],
        correlations=TABLES["correlations"],
        means=TABLES["condition_means"],
        recall_by_step=TABLES["recall_by_step"],
        head_layers=TABLES["head_layers"],
        knockout=TABLES["knockout"],
        patching=TABLES["patching"],
        scores=per_condition(f"results/heads/{COND}/scores.json"),
    output:
        f1=report(FIGURES["f1"], caption="../report/f1.rst", category="Figures"),
        heatmaps=report(FIGURES["heatmaps"], caption="../report/heatmaps.rst", category="Figures"),
        scatter=report(FIGURES["scatter"], caption="../report/scatter.rst", category="Figures"),
        seeds=report(FIGURES["seeds"], caption="../report/recall_seeds.rst", category="Figures"),
        steps=report(FIGURES["steps"], caption="../report/recall_steps.rst", category="Figures"),
        layers=report(FIGURES["layers"], caption="../report/head_layers.rst", category="Figures"),
        knockout=report(FIGURES["knockout"], caption="../report/knockout.rst", category="Interventions"),
        patching=report(FIGURES["patching"], caption="../report/patching.rst", category="Interventions"),
    log:
        "logs/figures/figures.log",
    params:
        cfg=lambda wc: as_json({"modes": config["heads"]["modes"], "head_kinds": HEAD_KINDS}),
        code=job_digest("synthctx.jobs.aggregate", "synthctx.analysis.figures", "synthctx.analysis.aggregate"),
    resources:
        runtime=runtime(15),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx figures --config {params.cfg:q} --table {input.table} --correlations {input.correlations} "
        "--means {input.means} --recall-by-step {input.recall_by_step} --head-layers {input.head_layers} "
        "--knockout {input.knockout} --patching {input.patching} --scores {input.scores} "
        "--f1-figure {output.f1} --heatmaps {output.heatmaps} --scatter {output.scatter} "
        "--seeds-figure {output.seeds} --steps-figure {output.steps} --layers-figure {output.layers} "
        "--knockout-figure {output.knockout} --patching-figure {output.patching} > {log} 2>&1"


rule claims:
    input:
        [TABLES[name] for name in targets.CLAIM_TABLES],
    output:
        page=report("results/aggregate/claims.html", caption="../report/claims.rst", category="Claims"),
        table="results/aggregate/claims.csv",
    log:
        "logs/aggregate/claims.log",
    params:
        cfg=section("correlation"),
        code=job_digest(
            "synthctx.jobs.aggregate",
            "synthctx.analysis.claims",
            "synthctx.analysis.intervention_claims",
            "synthctx.analysis.paired",
            "synthctx.analysis.aggregate",
        ),
    resources:
        runtime=runtime(10),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx claims --config {params.cfg:q} --tables {input} --out {output.page} --table-out {output.table} > {log} 2>&1"
