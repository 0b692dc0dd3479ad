"""`validate_file` and `hhcourse data validate|stats`: every kind of bad input reported as path:line: field."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hhcourse.data import LabelStore, validate_file
from hhcourse.data.cli import main
from hhcourse.data.load import SHIPPED

FIXTURES = Path(__file__).parent / "fixtures"
H, A = "\n\nHuman: ", "\n\nAssistant: "


def conversation(*turns: str) -> str:
    return "".join((H if i % 2 == 0 else A) + turn for i, turn in enumerate(turns))


PAIR = {"chosen": conversation("Name a fruit.", "A pear."), "rejected": conversation("Name a fruit.", "A brick.")}
MINI = {"id": "c1", "subset": "helpful", "topic": "food", "strength": "better", **PAIR}
RANKING = {"id": "r1", "subset": "helpful", "topic": "food", "prompt": H + "Name a fruit.\n\nAssistant:",
           "responses": ["A pear.", "An apple.", "Bread.", "A brick."], "ranking": [0, 1, 2, 3]}
PROMPT = {"id": "p1", "topic": "food", "prompt": "Name a fruit.", "split": "train"}
LABEL = {"id": "l1", "type": "comparison", "item_id": "i1", "labeler": "ana", "mode": "helpful",
         "prompt": [{"role": "user", "content": "Name a fruit."}], "response_a": "A pear.", "response_b": "A brick.",
         "shown_left": "a", "label": "A", "strength": "better", "reason": None, "model_ids": {"a": "sft"},
         "t_shown": 1.0, "t_labeled": 2.0, "seconds": 1.0}
PRINCIPLE = {"id": "harm", "name": "Avoid harm", "critique_request": "What is harmful?",
             "revision_request": "Rewrite it without harm."}


def lines(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def constitution(*principles) -> bytes:
    return json.dumps({"principles": list(principles), "few_shot": []}, indent=2).encode()


# (name, file name, content, options, line, field, reason fragment)
BAD_INPUTS = [
    ("bad JSON", "hh.jsonl", lines(PAIR, b'{"chosen": "\\n\\nHuman: hi",'), {}, 2, None, "bad JSON"),
    ("not a JSON object", "hh.jsonl", lines(PAIR, [PAIR]), {}, 2, None, "expected a JSON object, got a list"),
    ("missing field", "mini.jsonl", lines(MINI, {k: v for k, v in MINI.items() if k != "strength"}), {}, 2,
     "strength", "missing"),
    ("wrong type", "hh.jsonl", lines({**PAIR, "chosen": ["\n\nHuman: hi"]}), {}, 1, "chosen",
     "expected a string, got a list"),
    ("empty turn", "hh.jsonl", lines({**PAIR, "rejected": conversation("Name a fruit.", "")}), {}, 1, "rejected",
     "turn 2 (Assistant) is empty"),
    ("empty human turn", "hh.jsonl", lines({k: conversation("", "Hi.") for k in ("chosen", "rejected")}), {}, 1,
     "chosen", "turn 1 (Human) is empty"),
    ("chosen == rejected", "hh.jsonl", lines({**PAIR, "rejected": PAIR["chosen"]}), {}, 1, "chosen, rejected",
     "identical"),
    ("no shared prefix", "hh.jsonl", lines({**PAIR, "rejected": conversation("Name a tree.", "Oak.")}), {}, 1,
     "chosen, rejected", "no shared prompt"),
    ("two Human turns in a row", "hh.jsonl", lines({**PAIR, "chosen": H + "Name a fruit." + H + "Now!" + A + "Fig."}),
     {}, 1, "chosen", "two Human turns in a row"),
    ("starts with Assistant", "hh.jsonl", lines({**PAIR, "rejected": A + "Hello." + H + "Name a fruit." + A + "Fig."}),
     {}, 1, "rejected", "starts with an Assistant turn"),
    ("not a transcript", "hh.jsonl", lines({**PAIR, "chosen": "Name a fruit. A pear."}), {}, 1, "chosen",
     "does not start with '\\n\\nHuman:'"),
    ("ends with a Human turn", "hh.jsonl", lines({**PAIR, "chosen": conversation("Name a fruit.", "A pear.", "Ok?")}),
     {}, 1, "chosen", "does not end with an Assistant turn"),
    ("non-UTF-8 bytes", "hh.jsonl", lines(PAIR, json.dumps(PAIR).encode().replace(b"pear", b"p\xe9ar")), {}, 2,
     None, "not UTF-8 text (byte 0xe9"),
    ("over-long transcript", "hh.jsonl", lines(PAIR), {"max_chars": 30}, 1, "chosen", "over the limit of 30"),
    ("unknown subset", "mini.jsonl", lines({**MINI, "subset": "honest"}), {}, 1, "subset", "unknown value 'honest'"),
    ("unknown strength", "mini.jsonl", lines({**MINI, "strength": "much_better"}), {}, 1, "strength",
     "unknown value 'much_better'"),
    ("duplicate id", "mini.jsonl", lines(MINI, MINI), {}, 2, "id", "duplicate id 'c1' (first on line 1)"),
    ("ranking not a permutation", "rank.jsonl", lines({**RANKING, "ranking": [0, 1, 1, 3]}), {}, 1, "ranking",
     "is not an ordering"),
    ("wrong number of responses", "rank.jsonl", lines({**RANKING, "responses": ["A", "B", "C"], "ranking": [0, 1, 2]}),
     {}, 1, "responses", "has 3 responses, expected 4"),
    ("empty prompt", "rank.jsonl", lines({**RANKING, "prompt": ""}), {}, 1, "prompt", "is empty"),
    ("prompt with an empty turn", "rank.jsonl", lines({**RANKING, "prompt": H.rstrip() + "\n\nAssistant:"}), {}, 1,
     "prompt", "turn 1 (Human) is empty"),
    ("prompt not open for a reply", "rank.jsonl", lines({**RANKING, "prompt": conversation("Hi.", "Hello.")}), {}, 1,
     "prompt", "does not end with an open"),
    ("prompt pool entry with speaker turns", "prompts.jsonl", lines({**PROMPT, "prompt": conversation("Hi.", "Yo")}),
     {}, 1, "prompt", "contains a turn marker"),
    ("prompt pool unknown split", "prompts.jsonl", lines({**PROMPT, "split": "dev"}), {}, 1, "split",
     "unknown value 'dev'"),
    ("principle missing a revision request", "constitution.json",
     constitution(PRINCIPLE, {k: v for k, v in PRINCIPLE.items() if k != "revision_request"} | {"id": "b"}), {}, 9,
     "principles[1].revision_request", "missing"),
    ("duplicate principle id", "constitution.json", constitution(PRINCIPLE, PRINCIPLE), {}, 9, "principles[1].id",
     "duplicate principle id 'harm'"),
    ("constitution bad JSON", "constitution.json", b'{\n  "principles": [\n    {"id": "harm",}\n  ]\n}', {}, 3, None,
     "bad JSON"),
    ("label with an unknown label", "labels.jsonl", lines({**LABEL, "label": "C"}), {}, 1, "label",
     "unknown value 'C'"),
    ("label retracting an unknown id", "labels.jsonl",
     lines(LABEL, {"id": "r", "type": "retraction", "retracts": "l9", "labeler": "ana", "t": 3.0}), {}, 2, "retracts",
     "not an earlier label"),
    ("label duplicate record id", "labels.jsonl", lines(LABEL, LABEL), {}, 2, "id", "duplicate record id 'l1'"),
    ("ranking label not a permutation", "labels.jsonl",
     lines({**{k: v for k, v in LABEL.items() if k not in ("response_a", "response_b", "label", "strength",
                                                          "shown_left")},
            "type": "ranking", "responses": ["a", "b", "c"], "ranking": [2, 0], "model_ids": []}), {}, 1, "ranking",
     "is not an ordering"),
    ("unknown record kind", "data.jsonl", lines({"text": "hello"}), {}, None, None, "cannot tell what kind"),
    ("empty file", "mini.jsonl", b"", {"kind": "comparisons"}, None, None, "has no records"),
]


@pytest.mark.parametrize(("file_name", "content", "options", "line", "field", "reason"),
                         [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_reported_with_line_field_reason_and_what_to_do(tmp_path, file_name, content, options, line,
                                                                      field, reason):
    path = tmp_path / file_name
    path.write_bytes(content)
    report = validate_file(path, **options)
    assert not report.ok
    matching = [p for p in report.problems if reason in p.reason]
    assert matching, [str(p) for p in report.problems]
    problem = matching[0]
    assert (problem.path, problem.line, problem.field) == (path, line, field)
    assert problem.hint and str(problem).startswith(f"{path}{'' if line is None else f':{line}'}: ")
    assert f" — {problem.hint}" in str(problem)


def test_a_corrupt_gzip_file_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(gzip.compress(lines(PAIR))[:-8])
    assert "not a valid gzip file" in validate_file(path).problems[0].reason


def test_the_kind_is_told_by_content_then_path(tmp_path):
    kinds = {"hh.jsonl": lines(PAIR), "mini.jsonl": lines(MINI), "r.jsonl": lines(RANKING), "p.jsonl": lines(PROMPT),
             "l.jsonl": lines(LABEL), "c.json": constitution(PRINCIPLE)}
    for name, content in kinds.items():
        (tmp_path / name).write_bytes(content)
    assert {name: validate_file(tmp_path / name).kind for name in kinds} == {
        "hh.jsonl": "hh", "mini.jsonl": "comparisons", "r.jsonl": "rankings", "p.jsonl": "prompts",
        "l.jsonl": "labels", "c.json": "constitution"}
    (tmp_path / "rankings").mkdir()
    (tmp_path / "rankings" / "train.jsonl").write_bytes(b"not json\n")
    assert validate_file(tmp_path / "rankings" / "train.jsonl").kind == "rankings"


def test_a_torn_label_store_tail_is_a_note_not_an_error(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_bytes(lines(LABEL) + b'{"id": "l2", "ty')
    report = validate_file(path)
    assert report.ok and len(report.records) == 1 and "labels.jsonl:2: torn last line" in report.notes[0]


# ---------------------------------------------------------------------------------------------- the command


def test_validate_exits_0_on_valid_files(capsys):
    files = [FIXTURES / "hh" / "helpful-base" / "train.jsonl.gz", *sorted((FIXTURES / "shipped").rglob("*.json*"))]
    assert main(["validate", *map(str, files)]) == 0
    assert capsys.readouterr().out.count(": OK (") == len(files)


def test_validate_exits_1_and_prints_every_problem(tmp_path, capsys):
    bad = tmp_path / "mini.jsonl"
    bad.write_bytes(lines({**MINI, "subset": "honest"}, {**MINI, "id": "c2", "strength": "huge"}))
    assert main(["validate", str(FIXTURES / "hh" / "harmless-base" / "train.jsonl"), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:1: subset: unknown value 'honest' — use one of helpful, harmless" in out
    assert f"{bad}:2: strength: unknown value 'huge'" in out
    assert "2 problems in 1 of 2 files" in out


def test_validate_caps_the_problems_it_prints(tmp_path, capsys):
    bad = tmp_path / "hh.jsonl"
    bad.write_bytes(b"oops\n" * 60)
    assert main(["validate", str(bad), "--kind", "hh", "--max-problems", "5"]) == 1
    out = capsys.readouterr().out
    assert out.count("bad JSON") == 5 and "… and 55 more problems" in out


@pytest.mark.parametrize("argv", [[], ["validate"], ["validate", "missing.jsonl"], ["frobnicate", "x"],
                                  ["validate", "--kind", "tweets", "x.jsonl"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2


def test_stats_summarises_a_file(capsys):
    assert main(["stats", str(FIXTURES / "shipped" / "hh_mini" / "train.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "comparisons, 7 records" in out and "subset: helpful 4, harmless 3" in out
    assert "sides differing before the final turn: 1" in out


def test_stats_on_a_label_store_reports_position_bias(tmp_path, capsys):
    store = LabelStore(tmp_path / "labels.jsonl")
    for shown_left in ("a", "a", "b", "a"):
        store.add_comparison(item_id="i", labeler="ana", mode="helpful", prompt=LABEL["prompt"], response_a="x",
                             response_b="y", shown_left=shown_left, label="A", t_shown=0.0, t_labeled=2.0)
    assert main(["stats", str(store.path)]) == 0
    assert "marked response shown on the left: 75%" in capsys.readouterr().out


def test_the_installed_command_runs_it(tmp_path):
    bad = tmp_path / "hh.jsonl"
    bad.write_bytes(lines({**PAIR, "rejected": PAIR["chosen"]}))
    result = subprocess.run([sys.executable, "-m", "hhcourse.cli", "data", "validate", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and f"{bad}:1: chosen, rejected: chosen and rejected are identical" in result.stdout


# ------------------------------------------------------------------------------------------ shipped data


SHIPPED_FILES = [SHIPPED / "hh_mini" / "train.jsonl", SHIPPED / "hh_mini" / "test.jsonl",
                 SHIPPED / "rankings" / "train.jsonl", SHIPPED / "rankings" / "test.jsonl",
                 SHIPPED / "prompts" / "helpful.jsonl", SHIPPED / "prompts" / "red_team.jsonl",
                 SHIPPED / "constitution.json"]


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: str(path.relative_to(SHIPPED)))
def test_shipped_data_is_valid(path):
    if not path.exists():
        pytest.skip(f"{path.relative_to(SHIPPED)} is not written yet")
    report = validate_file(path)
    assert report.ok, "\n".join(map(str, report.problems[:20]))
