# Understanding synthetic context extension via retrieval heads (Zhao, Yin, Durrett, ICML 2025):
# for every task x needle realism x haystack realism x model x seed, build training data, fine-tune,
# evaluate on the real task, score attention heads (also over training), compare head sets with the
# real-data model, test the heads causally (knockout, activation patching), correlate head recall with
# real-task F1, and state each of the paper's claims with this run's numbers.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


report: "workflow/report/workflow.rst"


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/heads.smk"
include: "workflow/rules/interventions.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/package.smk"


rule all:
    input:
        all_targets(),
    default_target: True
