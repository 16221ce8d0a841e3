# Publishing: the finished run as a reproducibility package. Not part of the study's default target;
# `make package` writes Snakemake's detailed summary of the run first (the package's list of what ran).


rule package:
    input:
        all_targets(),
        summary="results/detailed-summary.tsv",
        report="results/report.html",
    output:
        folder=directory("results/package"),
        tarball="results/package.tar.gz",
    log:
        "logs/package.log",
    params:
        cfg=as_json(config),
        code=job_digest("synthctx.jobs.package", "synthctx.package.crate"),
    resources:
        runtime=runtime(30),
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m synthctx package --config {params.cfg:q} --summary {input.summary} --report {input.report} "
        "--out {output.folder} --tarball {output.tarball} > {log} 2>&1"
