"""Where a finished run's wall time went, the longest chain of jobs in it, and how far it is from the compute floor.

Run from the repository root after a run:

    python benchmarks/profile_run.py [--workdir DIR] [--configfile FILE ...] [--cores N] [--wall SECONDS]
                                     [--wall-from newest|all] [--since TIME] [--dag-from FILE | --no-dag]
                                     [--markdown]

1. Jobs by rule. A job is found by its benchmark file (benchmarks/<dir>/<task>/<data>/<model>/<seed>.tsv), its
   log and Snakemake's record of it (.snakemake/metadata); the rule and wildcards come from the `log:` and
   `benchmark:` paths declared in workflow/rules/*.smk. A job's wall time is, by preference: the benchmark's
   `s` column (summed over its rows), else `total_s` of the `synthctx-timing {...}` line ending its log, else
   endtime - starttime from .snakemake/metadata; the table says which. Start-up / loading / compute come only
   from the timing lines (shares are of the timed jobs' total_s); logs without one count as "n/a".
2. The run's wall time W: `--wall SECONDS`, else the newest .snakemake/log/*.snakemake.log that ran jobs (not
   a dry run): its first `[Wed Dec  2 19:52:22 2026]` timestamp line to its last one, or, where the run was
   quiet (-q writes none), its `Date:` header plus its `Elapsed time:` line. `--wall-from all` sums every such
   log (a run resumed after a failure); `--since TIME` ignores logs of runs started before TIME (an earlier
   run in the same folder). The decomposition uses the jobs that ended inside that window:
       J = sum of their wall times (core-seconds; every model rule runs with threads: 1), C = cores,
       scheduling overhead O = max(W - J / C, 0)  (time the C cores were not running a job),
       start-up + loading + scheduling overhead share = (S / C + L / C + O) / W,
   with S and L the summed startup_s and load_s of the timed jobs (core-seconds over C: wall-seconds of a run
   that keeps its C cores busy). Compute K / C and the job time without a timing split (J - S - L - K) / C
   complete the table, so the rows add up to W when O > 0.
3. Critical path: the longest chain of dependent jobs weighted by their measured wall times. The DAG comes
   from `snakemake -n --forceall --configfile ...` run in the workdir (a dry run: it prints every job with its
   rule, wildcards, input and output; an edge joins the job that writes a file to each job that reads it).
   Snakemake 9's `--dag` dot labels name only the wildcards a job does not share with its inputs' jobs, and
   `--d3dag` names none, so neither identifies the jobs whose times were measured. `--dag-from FILE` reads a
   saved dry-run listing instead.
4. Compute floor: the FLOPs the run must do (count_flops; the formulas are printed with the numbers), over
   this machine's single-thread matmul throughput at the run's dtype times the cores.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from synthctx.plan.grid import MODEL_STAGES, n_head_kinds  # noqa: E402
from synthctx.plan.grid import model_stage_conditions as planned_conditions  # noqa: E402
from synthctx.plan.settings import examples_used  # noqa: E402

TIMING_PREFIX = "synthctx-timing "
STAGE_DTYPE = {"fine_tune": "train", "evaluate": "evaluate", "score_heads": "heads", "knockout": "interventions"}
STAGE_DTYPE["patch"] = "interventions"
WINDOW_SLACK_S = 2.0  # a job's files are written just before the log's `Finished` line

Wildcards = tuple[tuple[str, str], ...]
JobKey = tuple[str, Wildcards]


def job_label(key: JobKey) -> str:
    rule, wildcards = key
    return rule + (" " + " ".join(f"{k}={v}" for k, v in wildcards) if wildcards else "")


# --------------------------------------------------------------------------------------------------------------
# Which rule wrote a file: the `log:` and `benchmark:` paths of workflow/rules/*.smk as patterns


@dataclass(frozen=True)
class PathPattern:
    rule: str
    kind: str  # log | benchmark
    template: str
    regex: re.Pattern
    literal: int  # characters outside wildcards: where two patterns match, the more specific wins


_WILDCARD = re.compile(r"\{([A-Za-z_]\w*)(?:,[^}]*)?\}")


def _pattern(rule: str, kind: str, template: str) -> PathPattern:
    parts, seen, pos = [], set(), 0
    for m in _WILDCARD.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        name = m.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+)")
        seen.add(name)
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    literal = len(_WILDCARD.sub("", template))
    return PathPattern(rule, kind, template, re.compile("^" + "".join(parts) + "$"), literal)


_STRING = re.compile(r"""(?<![\w.])([rfRF]{0,2})("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")


def _literal(prefix: str, quoted: str, constants: dict[str, str]) -> str:
    text = ast.literal_eval(quoted)
    if "f" not in prefix.lower():
        return text
    text = re.sub(r"(?<!\{)\{([A-Z_][A-Z0-9_]*)\}(?!\})", lambda m: constants.get(m.group(1), m.group(0)), text)
    return text.replace("{{", "{").replace("}}", "}")


def _add_pattern(
    out: list[PathPattern], rule: str | None, directive: str | None, body: list[str], constants: dict[str, str]
) -> None:
    """A rule's `log:` or `benchmark:` directive: its first string literal becomes a pattern."""
    if rule and directive in ("log", "benchmark"):
        m = _STRING.search(" ".join(body))
        if m:
            out.append(_pattern(rule, directive, _literal(m.group(1), m.group(2), constants)))


def rule_patterns(rules_dir: Path) -> list[PathPattern]:
    """The log and benchmark path patterns of every rule in `rules_dir`/*.smk (and the Snakefile beside it);
    f-strings have their module-level string constants (COND = "{task}/...") filled in."""
    files = sorted(rules_dir.glob("*.smk"))
    snakefile = rules_dir.parents[1] / "Snakefile" if len(rules_dir.parents) > 1 else None
    if snakefile and snakefile.exists():
        files.append(snakefile)
    texts = [f.read_text() for f in files]
    constants = {}
    for text in texts:
        for m in re.finditer(r'^([A-Z_][A-Z0-9_]*)\s*=\s*"([^"]*)"\s*$', text, re.M):
            constants[m.group(1)] = m.group(2)
    out: list[PathPattern] = []
    for text in texts:
        rule, directive, body = None, None, []
        for line in text.splitlines():
            head = re.match(r"^(?:local)?rule\s+(\w+)\s*:", line)
            if head or (line.strip() and not line.startswith((" ", "\t"))):
                _add_pattern(out, rule, directive, body, constants)
                rule, directive, body = (head.group(1) if head else None), None, []
                continue
            d = re.match(r"^(\s{4}|\t)(\w+):\s*(.*)$", line)
            if d and rule:
                _add_pattern(out, rule, directive, body, constants)
                directive, body = d.group(2), [d.group(3)]
            elif directive:
                body.append(line)
        _add_pattern(out, rule, directive, body, constants)
    return out


def match_path(patterns: list[PathPattern], kind: str, relpath: str) -> JobKey | None:
    """(rule, wildcards) of a log or benchmark file, from the most specific pattern it matches."""
    best = None
    for p in patterns:
        if p.kind != kind:
            continue
        m = p.regex.match(relpath)
        if m and (best is None or p.literal > best[0].literal):
            best = (p, m)
    if best is None:
        return None
    return best[0].rule, tuple(sorted(best[1].groupdict().items()))


# --------------------------------------------------------------------------------------------------------------
# Measured jobs


@dataclass
class Job:
    rule: str
    wildcards: Wildcards
    bench_s: float | None = None
    timing: dict[str, Any] | None = None
    meta_s: float | None = None
    end: float | None = None  # epoch seconds: when the job ended (metadata endtime, else its files' mtime)

    @property
    def key(self) -> JobKey:
        return self.rule, self.wildcards

    @property
    def source(self) -> str | None:
        if self.bench_s is not None:
            return "benchmark"
        if self.timing is not None:
            return "log total_s"
        if self.meta_s is not None:
            return "metadata"
        return None

    @property
    def wall(self) -> float | None:
        if self.bench_s is not None:
            return self.bench_s
        if self.timing is not None:
            return float(self.timing["total_s"])
        return self.meta_s


def read_benchmark(path: Path) -> float | None:
    """Seconds of a Snakemake benchmark TSV: its `s` column, summed over rows (repeat() runs the job again)."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    values = [float(r["s"]) for r in rows if r.get("s") not in (None, "", "NA")]
    return sum(values) if values else None


def read_timing(path: Path) -> dict[str, Any] | None:
    """The last `synthctx-timing {...}` line of a job's log, or None (a log from before the timing lines)."""
    found = None
    with path.open(errors="replace") as fh:
        for line in fh:
            if line.startswith(TIMING_PREFIX):
                try:
                    found = json.loads(line[len(TIMING_PREFIX) :])
                except json.JSONDecodeError:
                    continue
    return found


def collect_jobs(workdir: Path, patterns: list[PathPattern]) -> tuple[dict[JobKey, Job], list[str]]:
    """Every job the run folder has a measurement of, keyed by (rule, wildcards), and the files that matched
    no rule's log or benchmark path."""
    jobs: dict[JobKey, Job] = {}
    unmatched: list[str] = []

    def job(key: JobKey) -> Job:
        if key not in jobs:
            jobs[key] = Job(*key)
        return jobs[key]

    def seen(j: Job, path: Path) -> None:
        mtime = path.stat().st_mtime
        j.end = mtime if j.end is None else max(j.end, mtime)

    for path in sorted((workdir / "benchmarks").rglob("*.tsv")) if (workdir / "benchmarks").is_dir() else []:
        rel = path.relative_to(workdir).as_posix()
        key = match_path(patterns, "benchmark", rel)
        if key is None:
            unmatched.append(rel)
            continue
        j = job(key)
        j.bench_s = read_benchmark(path)
        seen(j, path)
    for path in sorted((workdir / "logs").rglob("*.log")) if (workdir / "logs").is_dir() else []:
        rel = path.relative_to(workdir).as_posix()
        key = match_path(patterns, "log", rel)
        if key is None:
            unmatched.append(rel)
            continue
        j = job(key)
        j.timing = read_timing(path)
        seen(j, path)
    meta = workdir / ".snakemake" / "metadata"
    spans: dict[JobKey, list[float]] = {}
    for path in sorted(meta.iterdir()) if meta.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        logs, start, end = record.get("log") or [], record.get("starttime"), record.get("endtime")
        if not logs or start is None or end is None or record.get("incomplete"):
            continue
        key = match_path(patterns, "log", logs[0])
        if key is None or (key[0] != record.get("rule") and record.get("rule")):
            continue
        span = spans.setdefault(key, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    for key, (start, end) in spans.items():
        j = job(key)
        j.meta_s = max(end - start, 0.0)
        j.end = end
    return jobs, unmatched


# --------------------------------------------------------------------------------------------------------------
# Per-rule sums


@dataclass
class RuleRow:
    rule: str
    jobs: int = 0
    wall: float = 0.0
    unmeasured: int = 0
    sources: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    timed: int = 0
    timed_total: float = 0.0
    startup: float = 0.0
    load: float = 0.0
    compute: float = 0.0

    def add(self, j: Job) -> None:
        self.jobs += 1
        if j.wall is None:
            self.unmeasured += 1
        else:
            self.wall += j.wall
            self.sources[j.source] += 1
        if j.timing is not None:
            self.timed += 1
            self.timed_total += float(j.timing["total_s"])
            self.startup += float(j.timing["startup_s"])
            self.load += float(j.timing["load_s"])
            self.compute += float(j.timing["compute_s"])

    @property
    def mean(self) -> float | None:
        measured = self.jobs - self.unmeasured
        return self.wall / measured if measured else None

    def share(self, part: float) -> float | None:
        return part / self.timed_total if self.timed and self.timed_total > 0 else None

    @property
    def source(self) -> str:
        names = sorted(self.sources)
        if len(names) == 1:
            return names[0]
        return ", ".join(f"{n} {self.sources[n]}" for n in names) or "none"


def rule_rows(jobs: Iterable[Job]) -> tuple[list[RuleRow], RuleRow]:
    rows: dict[str, RuleRow] = {}
    total = RuleRow("total")
    for j in jobs:
        rows.setdefault(j.rule, RuleRow(j.rule)).add(j)
        total.add(j)
    return sorted(rows.values(), key=lambda r: -r.wall), total


# --------------------------------------------------------------------------------------------------------------
# The run's wall time from Snakemake's main logs


@dataclass
class MainLog:
    path: Path
    start: float | None
    end: float | None
    jobs: int
    dry_run: bool
    method: str
    cores: int | None

    @property
    def wall(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


_STAMP = re.compile(r"^\[(\w{3} \w{3}\s+\d{1,2} \d{1,2}:\d{2}:\d{2} \d{4})\]\s*$")
_ELAPSED = re.compile(r"^Elapsed time: (?:(\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s*$")
_DATE = re.compile(r"^\s*Date: (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*$")
_CORES = re.compile(r"(?:--cores|--jobs|-c|-j)[ =](\d+)")


def parse_main_log(path: Path) -> MainLog:
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    stamps = [time.mktime(time.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")) for m in map(_STAMP.match, lines) if m]
    finished = sum(1 for line in lines if line.startswith(("Finished jobid:", "Finished job ")))
    executed = sum(int(m.group(1)) for m in (re.match(r"^Execute (\d+) jobs?\.\.\.", x) for x in lines) if m)
    blocks = sum(1 for line in lines if re.match(r"^(?:local)?(?:rule|checkpoint) \w+:\s*$", line))
    dry = "This was a dry-run" in text
    command = next((x for x in lines if x.strip().startswith("Command:")), "")
    cores = _CORES.search(command)
    start = end = None
    method = "no timestamps"
    if len(stamps) >= 2:
        start, end, method = stamps[0], stamps[-1], "first to last timestamp line"
    else:
        date = next((m for m in map(_DATE.match, lines) if m), None)
        elapsed = next((m for m in map(_ELAPSED.match, lines) if m), None)
        if date and elapsed:
            start = time.mktime(time.strptime(date.group(1), "%Y-%m-%d %H:%M:%S"))
            days, h, mi, s = elapsed.groups()
            end = start + int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)
            method = "Date: header + Elapsed time: line (no timestamp lines: a quiet run)"
    return MainLog(
        path, start, end, finished or executed or blocks, dry, method, int(cores.group(1)) if cores else None
    )


def job_logs(workdir: Path) -> list[MainLog]:
    """The main logs that ran jobs (not dry runs, DAG prints or reports), oldest first."""
    folder = workdir / ".snakemake" / "log"
    logs = [parse_main_log(p) for p in sorted(folder.glob("*.snakemake.log"))] if folder.is_dir() else []
    return [x for x in logs if x.jobs > 0 and not x.dry_run and x.wall is not None]


@dataclass
class RunWall:
    seconds: float | None
    how: str
    windows: list[tuple[float, float]]  # empty: every job counts
    logs: list[MainLog]


def run_wall(workdir: Path, wall: float | None, wall_from: str, since: float | None = None) -> RunWall:
    """`since` (seconds since the epoch) drops the logs of runs that started before it: a working folder that
    held an earlier run keeps that run's logs, which must not count in this one's W."""
    logs = [x for x in job_logs(workdir) if since is None or (x.start is not None and x.start >= since)]
    if wall is not None:
        return RunWall(wall, "--wall", [], logs)
    if not logs:
        where = " since --since" if since is not None else ""
        return RunWall(None, f"no .snakemake/log/*.snakemake.log that ran jobs{where} (give --wall SECONDS)", [], logs)
    chosen = logs[-1:] if wall_from == "newest" else logs
    seconds = sum(x.wall for x in chosen)
    names = ", ".join(f"{x.path.name} ({x.method}, {x.wall:.1f} s, {x.jobs} jobs)" for x in chosen)
    return RunWall(seconds, names, [(x.start, x.end) for x in chosen], logs)


def in_run(j: Job, windows: list[tuple[float, float]]) -> bool:
    if not windows:
        return True
    if j.end is None:
        return False
    return any(start - WINDOW_SLACK_S <= j.end <= end + WINDOW_SLACK_S for start, end in windows)


@dataclass
class Decomposition:
    wall: float | None
    cores: int
    jobs: int
    job_wall: float
    timed: int
    startup: float
    load: float
    compute: float

    @property
    def overhead(self) -> float | None:
        return None if self.wall is None else max(self.wall - self.job_wall / self.cores, 0.0)

    @property
    def untimed(self) -> float:
        return max(self.job_wall - self.startup - self.load - self.compute, 0.0)

    @property
    def overhead_share(self) -> float | None:
        """(start-up / C + loading / C + scheduling overhead) / W; n/a without timing lines or a wall time."""
        if not self.wall or not self.timed:
            return None
        return ((self.startup + self.load) / self.cores + self.overhead) / self.wall


def decompose(jobs: Iterable[Job], wall: float | None, cores: int) -> Decomposition:
    js = [j for j in jobs if j.wall is not None]
    timed = [j for j in js if j.timing is not None]

    def part(name: str) -> float:
        return sum(float(j.timing[name]) for j in timed)

    return Decomposition(
        wall, cores, len(js), sum(j.wall for j in js), len(timed), part("startup_s"), part("load_s"), part("compute_s")
    )


# --------------------------------------------------------------------------------------------------------------
# The DAG and its critical path


@dataclass
class DagJob:
    rule: str
    wildcards: Wildcards
    inputs: list[str]
    outputs: list[str]

    @property
    def key(self) -> JobKey:
        return self.rule, self.wildcards


def parse_dry_run(text: str) -> list[DagJob]:
    """The jobs of a `snakemake -n` listing: `rule NAME:` blocks with indented `input:`, `output:`,
    `wildcards:` lines."""
    jobs: list[DagJob] = []
    current: dict[str, Any] | None = None

    def flush():
        if current is not None:
            jobs.append(DagJob(current["rule"], current["wildcards"], current["input"], current["output"]))

    for line in text.splitlines():
        head = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):\s*$", line)
        if head:
            flush()
            current = {"rule": head.group(1), "wildcards": (), "input": [], "output": []}
            continue
        if current is None:
            continue
        item = re.match(r"^\s+(input|output|wildcards): (.*)$", line)
        if item:
            key, value = item.groups()
            parts = [p.strip() for p in value.split(", ") if p.strip()]
            if key == "wildcards":
                current["wildcards"] = tuple(sorted(tuple(p.split("=", 1)) for p in parts if "=" in p))
            else:
                current[key] = parts
        elif not line.startswith((" ", "\t")):
            flush()
            current = None
    flush()
    return jobs


def dag_edges(jobs: list[DagJob]) -> list[tuple[JobKey, JobKey]]:
    """(producer, consumer) pairs: the job that writes a file (or a folder holding it) to each job reading it."""
    writer = {os.path.normpath(o): j.key for j in jobs for o in j.outputs}
    edges = set()
    for j in jobs:
        for path in j.inputs:
            p = os.path.normpath(path)
            while p not in writer and os.path.dirname(p) not in ("", p):
                p = os.path.dirname(p)
            if p in writer and writer[p] != j.key:
                edges.add((writer[p], j.key))
    return sorted(edges)


def critical_path(weights: dict[Any, float], edges: Iterable[tuple[Any, Any]]) -> tuple[float, list[Any]]:
    """The heaviest chain through the DAG `edges` (u before v), a node weighing weights.get(node, 0)."""
    edges = list(edges)
    nodes = set(weights) | {u for u, _ in edges} | {v for _, v in edges}
    preds: dict[Any, list[Any]] = defaultdict(list)
    succs: dict[Any, list[Any]] = defaultdict(list)
    indegree = dict.fromkeys(nodes, 0)
    for u, v in edges:
        preds[v].append(u)
        succs[u].append(v)
        indegree[v] += 1
    ready = sorted((n for n in nodes if indegree[n] == 0), key=str)
    best: dict[Any, float] = {}
    via: dict[Any, Any] = {}
    done = 0
    while ready:
        n = ready.pop()
        done += 1
        w = weights.get(n) or 0.0
        before = max(preds[n], key=lambda p: best[p], default=None)
        best[n] = w + (best[before] if before is not None else 0.0)
        via[n] = before
        for s in succs[n]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    if done != len(nodes):
        raise ValueError("the job graph has a cycle")
    if not best:
        return 0.0, []
    end = max(best, key=lambda n: (best[n], str(n)))
    chain = [end]
    while via[chain[-1]] is not None:
        chain.append(via[chain[-1]])
    return best[end], chain[::-1]


def snakemake_dry_run(workdir: Path, configfiles: list[Path]) -> str:
    exe = Path(sys.executable).with_name("snakemake")
    exe = str(exe) if exe.exists() else shutil.which("snakemake")
    if not exe:
        raise RuntimeError("no snakemake executable beside this interpreter or on PATH")
    cmd = [exe, "-n", "--forceall", "--nolock"]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    run = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{run.stderr[-3000:]}")
    return run.stdout


# --------------------------------------------------------------------------------------------------------------
# The compute floor: FLOPs


@dataclass(frozen=True)
class ModelShape:
    """A model's size as the FLOP count needs it. `n`: weights a token passes through in matmuls (per layer the
    q/k/v/o projections and the MLP's three matrices, plus the LM head; the input embedding is a lookup);
    `head`: the LM head's share of `n` (vocab x hidden), spent only at positions whose logits are asked for
    (0 where unknown: every position then pays for it)."""

    n: float
    head: float = 0.0
    layers: int | None = None
    attn_dim: int | None = None  # heads x head_dim (query side): the width of the attention products
    hidden: int | None = None
    intermediate: int | None = None
    vocab: int | None = None
    source: str = ""


def shape_from_architecture(arch: dict[str, Any], source: str, default_vocab: int | None = None) -> ModelShape:
    hidden, inter, layers = arch["hidden_size"], arch["intermediate_size"], arch["num_hidden_layers"]
    heads = arch["num_attention_heads"]
    kv_heads = arch.get("num_key_value_heads") or heads
    head_dim = arch.get("head_dim") or hidden // heads
    vocab = arch.get("vocab_size") or default_vocab
    q, kv = heads * head_dim, kv_heads * head_dim
    per_layer = hidden * q + 2 * hidden * kv + q * hidden + 3 * hidden * inter
    head = (vocab or 0) * hidden
    return ModelShape(float(layers * per_layer + head), float(head), layers, q, hidden, inter, vocab, source)


def model_shape(name: str, spec: dict[str, Any], workdir: Path) -> ModelShape:
    """From the prepared model's config.json, else a random_init architecture, else `parameters` (then the
    attention terms are left out: layers and width are unknown)."""
    prepared = workdir / "resources" / "models" / name / "config.json"
    if prepared.exists():
        cfg = json.loads(prepared.read_text())
        cfg = cfg.get("text_config", cfg)
        return shape_from_architecture(cfg, f"resources/models/{name}/config.json")
    if spec.get("architecture"):
        from synthctx.plan.job_resources import DEFAULT_VOCAB_SIZE

        return shape_from_architecture(
            spec["architecture"],
            f"models.{name}.architecture",
            spec["architecture"].get("vocab_size") or DEFAULT_VOCAB_SIZE,
        )
    if spec.get("parameters"):
        return ModelShape(float(spec["parameters"]), source=f"models.{name}.parameters (attention terms omitted)")
    raise ValueError(f"model {name}: no resources/models/{name}/config.json, architecture or parameters")


FLOP_FORMULAS = """\
N = N_body + N_head: weights a token passes through in matmuls. N_body: per layer q,k,v,o and the 3 MLP
    matrices; N_head: the LM head (vocab x hidden), paid only at positions whose logits are computed; the
    input embedding is a lookup. L layers, d = heads x head_dim. LoRA adapters and norms are not counted.
A(T)       = 2 L d T^2                         causal attention (QK^T and AV over the lower triangle)
fwd(T, k)  = 2 N_body T + 2 N_head k + A(T)    a forward of T tokens with logits at k positions
dec(T, m)  = 2 N m + 4 L d (m T + m(m+1)/2)    m single-token steps with a KV cache after T tokens
T_p = target_tokens (prompt), a = the task's max_new_tokens, T_f = T_p + a, T_s = min(max_length, T_f)
fine_tune    per trained condition (the grid's, and the real model, always the reference):
             max_steps x batch_size x gradient_accumulation_steps x (f (N_body T_s + N_head a) + g A(T_s)), the
             LM head only where answer tokens are predicted (train.answer_only_loss); f = 4 for lora/qlora
             (forward 2N + backward through the activations 2N; adapter weight gradients negligible), 6 for
             full; g = 3 (attention forward + backward); gradient checkpointing adds a forward: f + 2, g + 1
evaluate     per condition: n_test x (fwd(T_p, 1) + dec(T_p, a - 1))   generate: the prefill's last position
             gives the first token, at most a - 1 steps follow (EOS stops earlier)
score_heads  per condition: n_test x |heads.modes| x fwd(T_f, 1) (attention is read, one position's logits
             are kept; generate mode scores only correctly answered examples: an upper bound), + per trained
             condition snapshots x n_snap x fwd(T_f, 1); snapshots = (max_steps - 1) // snapshot_every,
             n_snap = min(n_test, heads.snapshot_examples)
knockout     per condition: configs x n_ex x M [+ min(calibration_examples, n_test) x fwd(T_p, 1) with
             semantics mean]; configs = 1 + kinds x |k| x (2 + 2 random_draws);
             M = fwd(T_f, a + 1) + dec(T_p, a - 1): one prefill of prompt + gold answer (logits from the last
             prompt position on), then greedy steps. An upper bound: a configuration replays the layers below
             its lowest knocked-out head from the example's unmodified prefill (run_knockout), which saves a
             share of its prefill that depends on where the heads are and is not known before the run
patch        per condition: n_ex x (2 M + P x (M + O + dec(T_p, a - 1))); P = kinds x (3 + random_draws)
             patched configurations; the 2 M: both models unpatched, the donor's prefill recorded once per
             example and reused by every configuration; per configuration the donor's contributions from the
             recording, O = 4 L T_f d^2 at most (o_proj of x and of 0 in every layer), and the donor's own
             greedy steps over the patched model's tokens
             n_ex = min(n_test, interventions.n_examples); kinds = head kinds the task has (insight: MuSiQue,
             SummHay). Data rules and aggregation count 0."""


def _attention(shape: ModelShape, tokens: float) -> float:
    if shape.layers is None or shape.attn_dim is None:
        return 0.0
    return 2.0 * shape.layers * shape.attn_dim * tokens * tokens


def forward_flops(shape: ModelShape, tokens: float, logits: float | None = None) -> float:
    """fwd(T, k): T tokens, logits at k positions (default all T)."""
    k = tokens if logits is None else logits
    return 2.0 * (shape.n - shape.head) * tokens + 2.0 * shape.head * k + _attention(shape, tokens)


def decode_flops(shape: ModelShape, context: float, steps: int) -> float:
    """dec(T, m): m single-token forwards with a KV cache, step j attending to T + j + 1 positions."""
    steps = max(steps, 0)
    if shape.layers is None or shape.attn_dim is None:
        return 2.0 * shape.n * steps
    return 2.0 * shape.n * steps + 4.0 * shape.layers * shape.attn_dim * (steps * context + steps * (steps + 1) / 2)


def train_flops_per_sequence(
    shape: ModelShape, tokens: float, answer: float, method: str, checkpointing: bool
) -> float:
    """The LM head runs only at the positions that predict answer tokens (train.answer_only_loss)."""
    f = 6.0 if method == "full" else 4.0
    g = 3.0
    if checkpointing:
        f, g = f + 2.0, g + 1.0
    return f * ((shape.n - shape.head) * tokens + shape.head * answer) + g * _attention(shape, tokens)


@dataclass
class FlopRow:
    stage: str
    model: str
    dtype: str
    jobs: int
    flops: float


def count_flops(config: dict[str, Any], shapes: dict[str, ModelShape]) -> list[FlopRow]:
    """FLOPs per model rule and model (FLOP_FORMULAS) of a resolved config."""
    from synthctx.plan import conditions

    train, heads, iv = config["train"], config["heads"], config["interventions"]
    n_snapshots = (train["max_steps"] - 1) // train["snapshot_every"] if train.get("snapshot_every") else 0
    acc: dict[tuple[str, str], list[float]] = {}
    for stage, conds in planned_conditions(config).items():
        for c in conds:
            task, shape = config["tasks"][c["task"]], shapes[c["model"]]
            prompt, answer, n_test = task["target_tokens"], task["max_new_tokens"], task["n_test"]
            full = prompt + answer
            n_ex = examples_used(n_test, iv["n_examples"])
            kinds = n_head_kinds(config, c["task"])
            steps = decode_flops(shape, prompt, answer - 1)
            measured = forward_flops(shape, full, answer + 1) + steps  # M
            if stage == "fine_tune":
                seqs = train["max_steps"] * train["batch_size"] * train["gradient_accumulation_steps"]
                tokens = min(train["max_length"], full)
                flops = seqs * train_flops_per_sequence(
                    shape, tokens, answer, train["method"], bool(train.get("gradient_checkpointing"))
                )
            elif stage == "evaluate":
                flops = n_test * (forward_flops(shape, prompt, 1) + steps)
            elif stage == "score_heads":
                flops = n_test * len(heads["modes"]) * forward_flops(shape, full, 1)
                if c["data"] != conditions.NONE and n_snapshots:
                    n_snap = n_test if heads["snapshot_examples"] is None else min(n_test, heads["snapshot_examples"])
                    flops += n_snapshots * n_snap * forward_flops(shape, full, 1)
            elif stage == "knockout":
                ko = iv["knockout"]
                configs = 1 + kinds * len(ko["k"]) * (2 + 2 * ko["random_draws"])
                flops = configs * n_ex * measured
                if ko["semantics"] == "mean":
                    flops += min(ko["calibration_examples"], n_test) * forward_flops(shape, prompt, 1)
            else:
                patched = kinds * (3 + iv["patching"]["random_draws"])
                o_maps = 4 * (shape.layers or 0) * full * (shape.attn_dim or 0) * (shape.hidden or 0)
                flops = n_ex * (2 * measured + patched * (measured + o_maps + steps))
            row = acc.setdefault((stage, c["model"]), [0, 0.0])
            row[0] += 1
            row[1] += flops
    return [
        FlopRow(stage, model, config[STAGE_DTYPE[stage]]["dtype"], int(jobs), flops)
        for (stage, model), (jobs, flops) in acc.items()
    ]


# --------------------------------------------------------------------------------------------------------------
# The compute floor: this machine's throughput


def matmul_shapes(shape: ModelShape, rows: int = 512) -> list[tuple[str, int, int, int, float]]:
    """(name, m, k, n, share of a token's matmul FLOPs) for the model's projections, MLP and LM head."""
    if shape.hidden is None:
        return [("1024 x 1024 (no architecture)", rows, 1024, 1024, 1.0)]
    h, i, v = shape.hidden, shape.intermediate, shape.vocab or 0
    parts = [
        (f"attention proj {rows}x{h} @ {h}x{h}", rows, h, h, shape.n - shape.layers * 3 * h * i - v * h),
        (f"MLP {rows}x{h} @ {h}x{i}", rows, h, i, shape.layers * 3 * h * i),
        (f"LM head {rows}x{h} @ {h}x{v}", rows, h, v, v * h),
    ]
    return [(name, m, k, n, w / shape.n) for name, m, k, n, w in parts if w > 0 and n > 0]


def measure_throughput(shape: ModelShape, dtype: str, repeats: int = 5, budget_s: float = 3.0) -> dict[str, Any]:
    """FLOP/s of torch.matmul on one thread, best of `repeats`, per shape; `effective` weighs the shapes by
    their share of N, the model's matmul weights per token (total FLOPs / total time)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        per_shape = []
        for name, m, k, n, share in matmul_shapes(shape):
            a = torch.randn(m, k, dtype=getattr(torch, dtype))
            b = torch.randn(k, n, dtype=getattr(torch, dtype))
            torch.matmul(a, b)  # warm-up
            flops = 2.0 * m * k * n
            best, spent = math.inf, 0.0
            for _ in range(repeats):
                reps, t0 = 0, time.perf_counter()
                while True:
                    torch.matmul(a, b)
                    reps += 1
                    elapsed = time.perf_counter() - t0
                    if elapsed >= 0.02:
                        break
                best = min(best, elapsed / reps)
                spent += elapsed
                if spent > budget_s:
                    break
            per_shape.append({"shape": name, "share": share, "flops_per_s": flops / best})
    finally:
        torch.set_num_threads(threads)
    effective = 1.0 / sum(s["share"] / s["flops_per_s"] for s in per_shape)
    return {"shapes": per_shape, "effective": effective}


# --------------------------------------------------------------------------------------------------------------
# Config


def load_config(workdir: Path, configfiles: list[Path]) -> dict[str, Any]:
    """The Snakefile's configfile updated by the --configfile ones, validated and resolved as common.smk does."""
    import yaml

    from synthctx.plan.config import load_config_files, validate_config

    snakefile = workdir / "Snakefile"
    m = re.search(r'^configfile:\s*"([^"]+)"', snakefile.read_text(), re.M) if snakefile.exists() else None
    base = workdir / (m.group(1) if m else "config/config.yaml")
    files = ([base] if base.exists() else []) + [f for f in configfiles if f.resolve() != base.resolve()]
    config = load_config_files(files)
    schema_path = workdir / "workflow/schemas/config.schema.yaml"
    if not schema_path.exists():
        schema_path = REPO / "workflow/schemas/config.schema.yaml"
    validate_config(config, yaml.safe_load(schema_path.read_text()), files)
    return config


# --------------------------------------------------------------------------------------------------------------
# Output


class Report:
    def __init__(self, markdown: bool):
        self.markdown = markdown
        self.lines: list[str] = []

    def heading(self, text: str) -> None:
        self.gap()
        self.lines += [f"### {text}", ""] if self.markdown else [text, "=" * len(text)]

    def gap(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def text(self, text: str) -> None:
        """A line of its own (in Markdown a paragraph of its own)."""
        self.lines.append(text)
        if self.markdown:
            self.lines.append("")

    def block(self, text: str) -> None:
        if self.markdown:
            self.gap()
            self.lines += ["```", *text.splitlines(), "```", ""]
        else:
            self.lines += text.splitlines()

    def table(self, headers: list[str], rows: list[list[Any]], right: set[int] | None = None) -> None:
        right = right if right is not None else set(range(1, len(headers)))
        cells = [[str(c) for c in r] for r in rows]
        if self.markdown:
            self.gap()
            self.lines.append("| " + " | ".join(headers) + " |")
            self.lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|")
            self.lines += ["| " + " | ".join(r) + " |" for r in cells]
            self.lines.append("")
            return
        widths = [max(len(x) for x in col) for col in zip(headers, *cells)]

        def fmt(r: list[str]) -> str:
            cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            return "  ".join(cells).rstrip()

        self.lines += [fmt(headers), "  ".join("-" * w for w in widths), *map(fmt, cells)]

    def __str__(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def _s(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _part(value: float, share: float | None, timed: int) -> str:
    return "n/a" if not timed else f"{value:,.1f} ({_pct(share)})"


def _flops(x: float) -> str:
    for unit, scale in (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if x >= scale:
            return f"{x / scale:,.2f} {unit}"
    return f"{x:,.0f} FLOP"


def report_rules(out: Report, jobs: dict[JobKey, Job], unmatched: list[str]) -> None:
    rows, total = rule_rows(jobs.values())
    out.heading("Jobs by rule")
    table = []
    for r in [*rows, total]:
        table.append(
            [
                r.rule,
                r.jobs,
                _s(r.wall) + (f" ({r.unmeasured} unmeasured)" if r.unmeasured else ""),
                r.source if r.rule != "total" else "",
                _s(r.mean),
                f"{r.timed}/{r.jobs}",
                _part(r.startup, r.share(r.startup), r.timed),
                _part(r.load, r.share(r.load), r.timed),
                _part(r.compute, r.share(r.compute), r.timed),
            ]
        )
    out.table(
        ["rule", "jobs", "wall s", "wall from", "mean s/job", "timed", "start-up s", "load s", "compute s"],
        table,
        right={1, 2, 4, 5, 6, 7, 8},
    )
    out.gap()
    out.text(
        "wall from: benchmark = the benchmark TSV's `s`; log total_s = the synthctx-timing line; metadata = "
        "Snakemake's endtime - starttime (.snakemake/metadata). timed: jobs whose log has a synthctx-timing line; "
        "start-up / load / compute are their sums, with shares of those jobs' total_s (n/a: no timing line)."
    )
    if unmatched:
        out.text(
            f"{len(unmatched)} files under logs/ or benchmarks/ match no rule's path (ignored), e.g. {unmatched[0]}"
        )


def report_wall(out: Report, d: Decomposition, wall: RunWall, cores_how: str, all_jobs: int) -> None:
    out.heading("Run wall time")
    out.text(f"run wall time W: {_s(d.wall)} s from {wall.how}")
    if wall.windows:
        out.text(f"jobs of this run (ended inside its window): {d.jobs} of {all_jobs} measured jobs")
    if len(wall.logs) > 1 and len(wall.windows) == 1:
        total = sum(x.wall for x in wall.logs)
        out.text(
            f"note: {len(wall.logs)} main logs ran jobs ({total:.1f} s together); the newest is used, "
            "--wall-from all sums them (a run resumed after a failure)"
        )
    out.text(f"cores C: {d.cores} ({cores_how})")
    out.gap()
    w = d.wall
    rows = [
        ["sum of job wall times J (core-s)", _s(d.job_wall), ""],
        ["J / C", _s(d.job_wall / d.cores), _pct(d.job_wall / d.cores / w if w else None)],
    ]
    for name, value in (("start-up", d.startup), ("model loading", d.load), ("compute", d.compute)):
        v = value / d.cores if d.timed else None
        rows.append([f"  {name} / C", _s(v), _pct(v / w if w and v is not None else None)])
    v = d.untimed / d.cores
    rows.append(["  job time without a timing split / C", _s(v), _pct(v / w if w else None)])
    rows.append(["scheduling overhead O = max(W - J/C, 0)", _s(d.overhead), _pct(d.overhead / w if w else None)])
    both = (d.startup + d.load) / d.cores + d.overhead if d.timed and w else None
    rows.append(["start-up + model loading + scheduling overhead", _s(both), _pct(d.overhead_share)])
    out.table(["part of the run's wall time", "seconds", "share of W"], rows)
    out.gap()
    out.text(
        "share = (S/C + L/C + O) / W: S, L = summed startup_s, load_s of the timed jobs (core-seconds, over C "
        f"cores as wall-seconds of a busy run); O = max(W - J/C, 0). Timed jobs: {d.timed} of {d.jobs}."
    )


def report_critical_path(
    out: Report,
    jobs: dict[JobKey, Job],
    edges: list[tuple[JobKey, JobKey]],
    dag_nodes: set[JobKey],
    d: Decomposition,
    measurable: set[str],
) -> None:
    """`measurable`: the rules with a log or benchmark path (a target rule such as `all` runs nothing)."""
    out.heading("Critical path")
    weights = {k: (jobs[k].wall if k in jobs and jobs[k].wall is not None else 0.0) for k in dag_nodes}
    length, chain = critical_path(weights, edges)
    unmeasured = sorted(k for k in dag_nodes if (k not in jobs or jobs[k].wall is None) and k[0] in measurable)
    out.text(f"length: {_s(length)} s over {len(chain)} jobs (DAG: {len(dag_nodes)} jobs, {len(edges)} edges)")
    if d.wall:
        bound = max(length, d.job_wall / d.cores)
        out.text(
            f"lower bound on the run's wall time with {d.cores} cores: max(critical path, J/C) = {_s(bound)} s "
            f"({_pct(bound / d.wall)} of W)"
        )
    if unmeasured:
        names = ", ".join(sorted({k[0] for k in unmeasured}))
        out.text(f"{len(unmeasured)} DAG jobs have no measurement and weigh 0 ({names})")
    out.gap()
    rows, cum = [], 0.0
    for i, k in enumerate(chain, 1):
        w = weights.get(k, 0.0)
        cum += w
        src = jobs[k].source if k in jobs and jobs[k].source else "-"
        rows.append([i, k[0], " ".join(f"{a}={b}" for a, b in k[1]), _s(w), src, _s(cum)])
    out.table(["#", "rule", "wildcards", "wall s", "wall from", "cumulative s"], rows, right={0, 3, 5})


def report_floor(
    out: Report,
    flops: list[FlopRow],
    shapes: dict[str, ModelShape],
    throughputs: dict[tuple[str, str], dict[str, Any]],
    rules: dict[str, RuleRow],
    d: Decomposition,
    capability: str,
    all_jobs: int,
) -> None:
    out.heading("Compute floor")
    out.text(f"torch.backends.cpu.get_cpu_capability(): {capability}; matmul throughput on 1 thread, best of 5")
    for name, s in shapes.items():
        out.text(
            f"model {name}: N = {s.n:,.0f} matmul weights per token (LM head N_head = {s.head:,.0f}), "
            f"L = {s.layers}, d = {s.attn_dim} ({s.source})"
        )
    out.gap()
    out.block(FLOP_FORMULAS)
    out.gap()
    rows = []
    for (model, dtype), t in throughputs.items():
        for s in t["shapes"]:
            rows.append([model, dtype, s["shape"], _pct(s["share"]), f"{s['flops_per_s'] / 1e9:,.2f}"])
        rows.append([model, dtype, "effective (FLOP-weighted)", "", f"{t['effective'] / 1e9:,.2f}"])
    out.table(["model", "dtype", "matmul", "share of N", "GFLOP/s per core"], rows, right={3, 4})
    out.gap()
    rows, total, floor, measured_total, stages = [], 0.0, 0.0, 0.0, set()
    for r in sorted(flops, key=lambda r: MODEL_STAGES.index(r.stage)):
        rate = throughputs.get((r.model, r.dtype), {}).get("effective")
        per_core = r.flops / rate if rate else 0.0
        total += r.flops
        floor += per_core / d.cores
        measured = rules[r.stage].wall if r.stage in rules else None
        if measured and r.stage not in stages:
            measured_total += measured
            stages.add(r.stage)
        rows.append(
            [
                r.stage,
                r.model,
                r.dtype,
                r.jobs,
                _flops(r.flops),
                _s(per_core, 2),
                _s(measured),
                _s(measured / per_core if measured and per_core else None, 1) + "x" if measured else "n/a",
            ]
        )
    ratio = f"{measured_total / (floor * d.cores):,.1f}x" if measured_total and floor else "n/a"
    rows.append(
        ["total", "", "", sum(r.jobs for r in flops), _flops(total), _s(floor * d.cores, 2), _s(measured_total), ratio]
    )
    out.table(
        ["stage", "model", "dtype", "jobs", "FLOPs", "floor core-s", "measured job s", "measured / floor"],
        rows,
        right={3, 4, 5, 6, 7},
    )
    out.gap()
    out.text(f"floor = total FLOPs / (throughput per core x {d.cores} cores) = {_s(floor, 2)} s")
    out.text(f"run wall time W = {_s(d.wall)} s; W / floor = {_s(d.wall / floor if d.wall and floor else None)}x")
    if d.jobs < all_jobs:
        out.text(
            f"note: W covers {d.jobs} of the {all_jobs} measured jobs while the floor counts the whole run "
            "(--wall-from all, or --wall, for a run spread over several invocations)"
        )
    if d.timed:
        out.text(f"measured compute of the timed jobs / C = {_s(d.compute / d.cores)} s")


# --------------------------------------------------------------------------------------------------------------


def _local_time(text: str) -> float:
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"):
        try:
            return time.mktime(time.strptime(text, fmt))  # the logs' timestamps are local time too
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not YYYY-MM-DDTHH:MM[:SS]")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=Path("."), help="the run's working directory (default: .)")
    p.add_argument("--configfile", type=Path, nargs="*", default=[], help="the run's --configfile files")
    p.add_argument("--cores", type=int, default=None, help="cores of the run (default: its log's --cores, else 2)")
    p.add_argument("--wall", type=float, default=None, help="the run's wall time in seconds (default: its log)")
    p.add_argument("--wall-from", choices=("newest", "all"), default="newest", help="main logs that make W")
    p.add_argument(
        "--since",
        type=_local_time,
        default=None,
        help="ignore main logs of runs started before this local time, YYYY-MM-DDTHH:MM[:SS] (an earlier run's logs)",
    )
    p.add_argument("--dag-from", type=Path, default=None, help="a saved `snakemake -n --forceall` listing")
    p.add_argument("--no-dag", action="store_true", help="skip the critical path (no snakemake dry run)")
    p.add_argument("--no-floor", action="store_true", help="skip the FLOP count and throughput measurement")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables (docs/benchmarks.md)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workdir = args.workdir.resolve()
    configfiles = [f.resolve() for f in args.configfile]
    rules_dir = workdir / "workflow" / "rules"
    patterns = rule_patterns(rules_dir if rules_dir.is_dir() else REPO / "workflow" / "rules")
    jobs, unmatched = collect_jobs(workdir, patterns)
    wall = run_wall(workdir, args.wall, args.wall_from, args.since)
    if args.cores:
        cores, cores_how = args.cores, "--cores"
    elif wall.logs and wall.logs[-1].cores:
        cores, cores_how = wall.logs[-1].cores, f"the command line in {wall.logs[-1].path.name}"
    else:
        cores, cores_how = 2, "default"
    run_jobs = [j for j in jobs.values() if in_run(j, wall.windows)]
    d = decompose(run_jobs, wall.seconds, cores)

    out = Report(args.markdown)
    out.text(f"Profile of the run in {workdir}")
    report_rules(out, jobs, unmatched)
    all_jobs = sum(1 for j in jobs.values() if j.wall is not None)
    report_wall(out, d, wall, cores_how, all_jobs)
    if not args.no_dag:
        try:
            text = args.dag_from.read_text() if args.dag_from else snakemake_dry_run(workdir, configfiles)
            dag = parse_dry_run(text)
            report_critical_path(out, jobs, dag_edges(dag), {j.key for j in dag}, d, {p.rule for p in patterns})
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            out.heading("Critical path")
            out.text(f"n/a: {err}")
    if not args.no_floor:
        import torch

        config = load_config(workdir, configfiles)
        shapes = {m: model_shape(m, config["models"][m], workdir) for m in config["grid"]["models"]}
        flops = count_flops(config, shapes)
        throughputs = {(r.model, r.dtype): None for r in sorted(flops, key=lambda r: (r.model, r.dtype)) if r.flops > 0}
        for model, dtype in throughputs:
            throughputs[(model, dtype)] = measure_throughput(shapes[model], dtype)
        rows = {r.rule: r for r in rule_rows(jobs.values())[0]}
        report_floor(out, flops, shapes, throughputs, rows, d, torch.backends.cpu.get_cpu_capability(), all_jobs)
    sys.stdout.write(str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
