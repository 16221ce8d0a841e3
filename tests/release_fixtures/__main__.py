"""Write the generated official-format files the rehearsal config reads (config/rehearsal.yaml):

    python tests/release_fixtures --out resources/rehearsal

mdqa/     the "Lost in the Middle" release layout: nq-open-20_total_documents_gold_at_{0,9,19}.jsonl.gz
musique/  musique_ans_v1.0_train.jsonl and musique_ans_v1.0_dev.jsonl
summhay/  topic_news{1..3}.json and topic_conv{1..3}.json (100 documents each)
Every file is generated (no real data), deterministically from the seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from release_fixtures import mdqa, musique, summhay  # noqa: E402


def write_all(out: Path, seed: int = 0) -> list[Path]:
    paths = mdqa.write_release(out / "mdqa", n_questions=80, seed=seed, gold_indices=(0, 9, 19))
    train = musique.write_split(out / "musique" / "musique_ans_v1.0_train.jsonl", 40, seed)
    paths += [train, musique.write_split(out / "musique" / "musique_ans_v1.0_dev.jsonl", 20, seed + 1, train)]
    paths += list(summhay.write_release(out / "summhay", n_news=3, n_conv=3, seed=seed))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    for path in write_all(a.out, a.seed):
        print(path)


if __name__ == "__main__":
    main()
