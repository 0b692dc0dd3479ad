"""The label store: durable appends, schema checks, torn-line recovery, retractions, TRL export."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import Dataset

from hhcourse.data import DataError, LabelStore

PROMPT = [{"role": "user", "content": "How do I get back at my noisy neighbour?"}]
KIND = "Talk to them first; a mediation service can help if that fails."
MEAN = "Blast your own music at 6 a.m."


def comparison(store: LabelStore, **overrides) -> dict:
    fields = dict(item_id="item-1", labeler="ana", mode="helpful", prompt=PROMPT, response_a=KIND, response_b=MEAN,
                  shown_left="b", label="A", strength="better", t_shown=1000.0, t_labeled=1004.5)
    return store.add_comparison(**{**fields, **overrides})


def test_labels_survive_a_reload_exactly(tmp_path):
    store = LabelStore(tmp_path / "labels" / "ana.jsonl")
    written = [comparison(store), comparison(store, item_id="item-2", label="tie", strength=None, reason="same")]
    ranking = store.add_ranking(item_id="item-3", labeler="ana", mode="helpful", prompt=PROMPT,
                                responses=[KIND, MEAN, "Ignore it."], ranking=[0, 2, 1], t_shown=1.0, t_labeled=3.0)
    assert written[0]["seconds"] == 4.5 and len({r["id"] for r in [*written, ranking]}) == 3
    assert LabelStore(store.path).records() == [*written, ranking]
    assert len(store.path.read_text().splitlines()) == 3


@pytest.mark.parametrize(("overrides", "field", "reason"), [
    ({"label": "C"}, "label", "unknown value 'C'"),
    ({"mode": "harmless"}, "mode", "unknown value 'harmless'"),
    ({"shown_left": "left"}, "shown_left", "unknown value 'left'"),
    ({"label": "tie", "strength": "better"}, "strength", "but the label is 'tie'"),
    ({"prompt": [{"role": "assistant", "content": "hi"}]}, "prompt", "does not end with a user message"),
    ({"response_b": ""}, "response_b", "is empty"),
    ({"t_labeled": 990.0}, "seconds", "below 0"),
])
def test_a_bad_label_is_refused_and_nothing_is_written(tmp_path, overrides, field, reason):
    store = LabelStore(tmp_path / "labels.jsonl")
    comparison(store)
    before = store.path.read_bytes()
    with pytest.raises(DataError) as caught:
        comparison(store, **overrides)
    assert caught.value.field == field and reason in caught.value.reason and caught.value.path == store.path
    assert store.path.read_bytes() == before


def test_undo_appends_a_retraction_and_deletes_nothing(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    first, second = comparison(store), comparison(store, item_id="item-2")
    retraction = store.retract(first["id"], labeler="ana", reason="misclicked")
    assert [r["id"] for r in store.records()] == [second["id"]]
    assert [r["id"] for r in store.records(include_retracted=True)] == [first["id"], second["id"]]
    assert [r["type"] for r in store.history()] == ["comparison", "comparison", "retraction"]
    assert retraction["retracts"] == first["id"]
    with pytest.raises(DataError, match="already retracted"):
        store.retract(first["id"], labeler="ana")
    with pytest.raises(DataError, match="not an earlier label"):
        store.retract("no-such-id", labeler="ana")


def test_a_retraction_sees_labels_written_by_another_store_object(tmp_path):
    path = tmp_path / "labels.jsonl"
    widget, other_widget = LabelStore(path), LabelStore(path)
    label = comparison(widget)
    other_widget.retract(label["id"], labeler="ana")
    assert widget.records() == []


def test_pairwise_export_is_trl_format_and_red_team_flips_the_marked_response(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    comparison(store, label="A")  # helpful: A (the kind reply) is better
    comparison(store, item_id="item-2", mode="red_team", label="B")  # red team: B (the mean reply) is MORE harmful
    comparison(store, item_id="item-3", mode="red_team", label="A", response_a=MEAN, response_b=KIND)
    comparison(store, item_id="item-4", label="tie", strength=None)
    comparison(store, item_id="item-5", label="both_bad", strength=None)
    retracted = comparison(store, item_id="item-6", label="B")
    store.retract(retracted["id"], labeler="ana")

    with pytest.warns(UserWarning, match="left out of the pairwise export.*1 both_bad, 1 tie"):
        dataset = store.to_dataset()
    assert isinstance(dataset, Dataset)
    assert dataset["item_id"] == ["item-1", "item-2", "item-3"]
    for row in dataset:
        assert row["prompt"] == PROMPT
        assert row["chosen"] == [{"role": "assistant", "content": KIND}]
        assert row["rejected"] == [{"role": "assistant", "content": MEAN}]
    assert LabelStore(store.path).history()[3]["label"] == "tie"  # kept in the store


def test_ranking_export(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    store.add_ranking(item_id="item-1", labeler="ana", mode="helpful", prompt=PROMPT,
                      responses=[MEAN, KIND, "Ignore it."], ranking=[1, 2, 0], t_shown=1.0)
    dataset = store.to_dataset("ranking")
    assert dataset.column_names == ["prompt", "responses", "ranking", "id", "item_id", "labeler", "mode"]
    assert dataset[0]["ranking"] == [1, 2, 0]
    with pytest.raises(DataError, match="use 'pairwise' or 'ranking'"):
        store.to_dataset("pairs")


def test_a_torn_last_line_is_ignored_on_load_and_cut_off_by_the_next_append(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    kept = [comparison(store), comparison(store, item_id="item-2")]
    with open(store.path, "ab") as file:
        file.write(b'{"type": "comparison", "id": "torn", "item_')  # a crash mid-write

    with pytest.warns(UserWarning, match=r"labels.jsonl:3: ignored a torn last line"):
        reopened = LabelStore(store.path)
        assert reopened.records() == kept
    with pytest.warns(UserWarning, match="removed a torn last line"):
        added = comparison(reopened, item_id="item-3")
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [kept[0]["id"], kept[1]["id"], added["id"]]


def test_a_corrupt_line_in_the_middle_is_reported_with_its_line(tmp_path):
    store = LabelStore(tmp_path / "labels.jsonl")
    for item in ("item-1", "item-2", "item-3"):
        comparison(store, item_id=item)
    lines = store.path.read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "label": "maybe"})  # edited by hand
    store.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as caught:
        LabelStore(store.path)
    assert str(caught.value).startswith(f"{store.path}:2: label: unknown value 'maybe' — use one of A, B, tie")


def test_importing_the_store_loads_neither_torch_nor_datasets():
    code = "import sys, hhcourse.data.store; print(sorted({'torch', 'datasets'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


WRITER = """
import sys, time
from hhcourse.data.store import LabelStore
store = LabelStore(sys.argv[1])
prompt = [{"role": "user", "content": "q" * 200}]
while True:
    record = store.add_comparison(item_id="i", labeler="w", mode="helpful", prompt=prompt, response_a="a" * 300,
                                  response_b="b" * 300, shown_left="a", label="A", t_shown=time.time())
    print(record["id"], flush=True)  # acknowledged: the line is fsynced
"""


def test_sigkill_at_random_points_loses_only_the_record_in_flight(tmp_path):
    path = tmp_path / "labels.jsonl"
    acknowledged: list[str] = []
    rng = random.Random(0)
    for _ in range(100):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        acknowledged.append(writer.stdout.readline().strip())  # it is writing now
        time.sleep(rng.uniform(0, 0.01))
        os.kill(writer.pid, signal.SIGKILL)
        acknowledged += writer.stdout.read().split()
        writer.wait()
    stored = {record["id"] for record in LabelStore(path).records()}  # raises if a line were glued or corrupt
    assert set(acknowledged) <= stored
    assert len(stored) - len(set(acknowledged)) <= 100  # at most the one in flight per kill
    lines = path.read_bytes().split(b"\n")
    assert sum(1 for line in lines[:-1] if line) == len(stored) and len(lines[-1]) < 2000  # ≤ 1 torn tail


def test_labels_on_disk_are_valid_files_for_the_validator(tmp_path):
    from hhcourse.data import validate_file

    store = LabelStore(tmp_path / "labels.jsonl")
    comparison(store)
    report = validate_file(store.path)
    assert report.kind == "labels" and report.ok and len(report.records) == 1


def test_store_file_path_is_created_with_its_folder(tmp_path):
    store = LabelStore(tmp_path / "a" / "b" / "labels.jsonl")
    assert store.records() == [] and not store.path.exists()
    comparison(store)
    assert Path(store.path).is_file()
