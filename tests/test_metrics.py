import pytest

from synthctx.evaluation.metrics import (
    max_token_f1,
    normalize_answer,
    rouge1_recall,
    substring_exact_match,
    token_f1,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  an   apple,  a PEAR!  ", "apple pear"),
        ("Theory of the atom", "theory of atom"),  # 'the' inside a word survives
        ("Anna and a banana", "anna and banana"),
        ("don't stop", "dont stop"),  # punctuation deleted, not replaced by space
        ("U.S.A.", "usa"),
        ("the-end", "theend"),  # hyphen removed first, so no article is left
        ("\tline\nbreak ", "line break"),
        ("", ""),
        ("The a an", ""),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


def test_token_f1_exact_after_normalisation() -> None:
    assert token_f1("The Eiffel Tower.", "eiffel   tower") == 1.0


def test_token_f1_partial_overlap() -> None:
    # pred tokens: [paris, france]; gold: [paris] -> P=1/2, R=1 -> F1=2/3
    assert token_f1("Paris, France", "Paris") == pytest.approx(2 / 3)


def test_token_f1_duplicate_tokens_are_multiset_clipped() -> None:
    # pred [new, new, york], gold [new, york]: overlap 2 -> P=2/3, R=1 -> F1=0.8
    assert token_f1("new new york", "New York") == pytest.approx(0.8)
    # pred [new], gold [new, new]: overlap 1 -> P=1, R=1/2 -> F1=2/3
    assert token_f1("new", "new new") == pytest.approx(2 / 3)


def test_token_f1_no_overlap() -> None:
    assert token_f1("London", "Paris") == 0.0


def test_token_f1_empty_cases() -> None:
    assert token_f1("", "") == 1.0
    assert token_f1("the", "a.") == 1.0  # both empty after normalisation
    assert token_f1("", "Paris") == 0.0
    assert token_f1("Paris", "the") == 0.0


def test_max_token_f1_takes_best_gold() -> None:
    golds = ["London", "Paris, France", "Paris"]
    assert max_token_f1("paris", golds) == 1.0
    assert max_token_f1("Paris France is", golds) == pytest.approx(0.8)


def test_a_blank_gold_does_not_credit_an_empty_prediction() -> None:
    # SQuAD scores an empty prediction against an empty gold as 1.0; with a real gold beside it, that blank
    # alias would hand every empty answer full marks
    assert max_token_f1("", ["Vellby", " "]) == 0.0
    assert max_token_f1("", ["Vellby", "the"]) == 0.0  # "the" normalises to nothing too
    assert max_token_f1("Vellby", ["Vellby", " "]) == 1.0
    assert max_token_f1("", [" "]) == 1.0  # only blank golds: the SQuAD convention stands


def test_max_token_f1_empty_golds_raise() -> None:
    with pytest.raises(ValueError):
        max_token_f1("Paris", [])


def test_substring_exact_match() -> None:
    pred = "The answer is: the Eiffel Tower, in Paris."
    assert substring_exact_match(pred, ["eiffel tower"]) == 1.0
    assert substring_exact_match(pred, ["Louvre", "PARIS"]) == 1.0
    assert substring_exact_match(pred, ["Louvre"]) == 0.0
    # plain substring, not token match (Liu et al. behaviour)
    assert substring_exact_match("Parisian", ["Paris"]) == 1.0
    # gold longer than prediction never matches
    assert substring_exact_match("Eiffel", ["Eiffel Tower"]) == 0.0


def test_substring_exact_match_empty_gold_never_matches() -> None:
    assert substring_exact_match("anything at all", ["", "the"]) == 0.0
    assert substring_exact_match("", [""]) == 0.0


def test_substring_exact_match_empty_golds_raise() -> None:
    with pytest.raises(ValueError):
        substring_exact_match("x", [])


def test_rouge1_recall() -> None:
    assert rouge1_recall("Eiffel Tower in Paris", "the Eiffel Tower") == 1.0
    # gold [blue, whale, shark]; pred has blue, whale -> 2/3
    assert rouge1_recall("a blue whale", "blue whale shark") == pytest.approx(2 / 3)
    assert rouge1_recall("", "Paris") == 0.0
    assert rouge1_recall("Paris", "") == 0.0


def test_rouge1_recall_clips_repeated_tokens() -> None:
    # gold [new, new, york]; pred has one 'new' and 'york' -> 2/3, not 1
    assert rouge1_recall("new york", "new new york") == pytest.approx(2 / 3)
    # repeating a token in the prediction cannot exceed its gold count
    assert rouge1_recall("new new new", "new york") == pytest.approx(0.5)


def test_rouge1_recall_gate_threshold() -> None:
    # Wu et al. count retrieval success when recall > 0.5; exactly 0.5 fails the gate
    assert not rouge1_recall("needle", "needle haystack") > 0.5
    assert rouge1_recall("needle hay", "needle hay stack") > 0.5
