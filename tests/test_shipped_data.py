"""The data the course ships: counts, splits, disjointness, length balance, and difficulty (issue "shipped data").

These guard the dataset itself: if an edit makes the pairs easy (a word counter solves them), leaks a test
prompt into train, or lets length predict the label, a test here fails.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from hhcourse.data import (load_constitution, load_hh, load_prompts, load_rankings, parse_transcript,
                           split_comparison, validate_file)
from hhcourse.data import baseline
from hhcourse.data.load import SHIPPED

STOP = set("a an the to of and or in on for is are was be i you my me it this that with do does how what can "
           "could should would your im i'm it's at as by from if so but not no".split())


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in STOP}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def human_text(transcript: str) -> str:
    return " ".join(m["content"] for m in parse_transcript(transcript) if m["role"] == "user")


@pytest.fixture(scope="module")
def hh():
    return {split: load_hh("hh-mini", split=split) for split in ("train", "test")}


def test_every_shipped_file_validates():
    files = sorted(SHIPPED.glob("hh_mini/*.jsonl")) + sorted(SHIPPED.glob("rankings/*.jsonl")) + \
        sorted(SHIPPED.glob("prompts/*.jsonl")) + [SHIPPED / "constitution.json"]
    assert len(files) == 7
    for path in files:
        report = validate_file(path)
        assert report.ok, f"{path}: {report.problems[:3]}"


def test_comparison_counts_topics_and_multi_turn_share(hh):
    rows = list(hh["train"]) + list(hh["test"])
    subsets = Counter(r["subset"] for r in rows)
    assert len(rows) >= 1200 and subsets["helpful"] >= 700 and subsets["harmless"] >= 500
    assert len({r["topic"] for r in rows}) >= 60
    multi_turn = sum(len(parse_transcript(r["chosen"])) >= 4 for r in rows) / len(rows)
    assert multi_turn >= 0.25
    assert set(Counter(r["strength"] for r in rows)) == {"significantly_better", "better", "slightly_better",
                                                          "negligibly_better"}
    assert len({r["id"] for r in rows}) == len(rows)


def test_split_is_stratified_by_subset_and_large_enough(hh):
    assert len(hh["test"]) >= 250
    for subset in ("helpful", "harmless"):
        n_test = sum(r["subset"] == subset for r in hh["test"])
        n_all = n_test + sum(r["subset"] == subset for r in hh["train"])
        assert 0.18 <= n_test / n_all <= 0.32, subset


def test_no_test_prompt_or_near_duplicate_appears_in_train(hh):
    train = [content_words(human_text(r["chosen"])) for r in hh["train"]]
    for row in hh["test"]:
        words = content_words(human_text(row["chosen"]))
        closest = max(jaccard(words, other) for other in train)
        assert closest < 0.6, f"{row['id']} has a near-duplicate prompt in train (Jaccard {closest:.2f})"


def test_length_does_not_predict_the_label(hh):
    triples = [split_comparison(r["chosen"], r["rejected"]) for r in list(hh["train"]) + list(hh["test"])]
    chosen_longer = sum(len(t.chosen) > len(t.rejected) for t in triples) / len(triples)
    assert 0.45 <= chosen_longer <= 0.65


@pytest.mark.parametrize("subset", ["helpful", "harmless"])
def test_a_bag_of_words_model_learns_but_does_not_solve_the_pairs(hh, subset):
    """Well above chance (the labels carry signal) and below 95%: a ratchet, not a goal. Hand-written red-team
    pairs keep a style contrast (kind vs eager reply) that word counts catch; the data card reports the value
    (~89% helpful, ~93% harmless at release) and what was done to bring it down from 90% / 98%."""
    def triples(split):
        return [split_comparison(r["chosen"], r["rejected"]) for r in hh[split] if r["subset"] == subset]

    train, test = triples("train"), triples("test")
    weights = baseline.fit([t.chosen for t in train], [t.rejected for t in train])
    accuracy = baseline.accuracy(weights, [t.chosen for t in test], [t.rejected for t in test])
    assert 0.6 <= accuracy <= 0.95, f"{subset}: bag-of-words test accuracy {accuracy:.3f}"


def test_rankings_have_four_responses_and_both_splits():
    train, test = load_rankings("train"), load_rankings("test")
    assert len(train) + len(test) >= 150 and len(test) >= 30
    for row in list(train) + list(test):
        assert len(row["responses"]) == 4 and sorted(row["ranking"]) == [0, 1, 2, 3]


def test_prompt_pools_are_large_held_out_and_disjoint_from_test_comparisons(hh):
    test_prompts = [content_words(human_text(r["chosen"])) for r in hh["test"]]
    for kind, minimum in (("helpful", 400), ("red_team", 300)):
        rows = list(load_prompts(kind))
        assert len(rows) >= minimum
        assert sum(r["split"] == "eval" for r in rows) / len(rows) >= 0.25
        for row in rows:
            words = content_words(row["prompt"])
            assert max(jaccard(words, t) for t in test_prompts) < 0.5, f"{kind} {row['id']} near a test prompt"


def test_constitution_has_principles_and_worked_examples():
    constitution = load_constitution()
    assert len(constitution["principles"]) >= 16 and len(constitution["few_shot"]) >= 4
    for principle in constitution["principles"]:
        assert principle["critique_request"].strip() and principle["revision_request"].strip()
