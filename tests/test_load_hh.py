"""Loading hh comparisons (local real-format files, hh-mini, the hub), rankings, prompts and the constitution."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
from pathlib import Path

import pytest
from datasets import Dataset

from hhcourse.data import (
    DataError,
    hub_available,
    load_constitution,
    load_hh,
    load_prompts,
    load_rankings,
    split_comparison,
    to_trl,
)
from hhcourse.data.load import SHIPPED

FIXTURES = Path(__file__).parent / "fixtures"
HH = FIXTURES / "hh"
MINI = FIXTURES / "shipped"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once


def raw_lines(path: Path) -> list[dict]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in data.decode().splitlines()]


# ---------------------------------------------------------------------------------- real format, local


def test_local_folder_in_the_hub_layout_gives_the_raw_transcripts():
    dataset = load_hh(HH, subset="helpful")
    assert isinstance(dataset, Dataset)
    assert dataset.column_names == ["chosen", "rejected", "subset", "data_dir"]
    expected = raw_lines(HH / "helpful-base" / "train.jsonl.gz")
    assert dataset["chosen"] == [r["chosen"] for r in expected]  # untouched, whitespace and all
    assert dataset["rejected"] == [r["rejected"] for r in expected]
    assert set(dataset["subset"]) == {"helpful"} and set(dataset["data_dir"]) == {"helpful-base"}


def test_subsets_map_to_helpful_and_harmless_and_accept_hub_names():
    harmless = load_hh(HH, subset="harmless")
    assert set(harmless["data_dir"]) == {"harmless-base"} and set(harmless["subset"]) == {"harmless"}
    assert load_hh(HH, subset="helpful-base", split="test").num_rows == 2


def test_no_subset_reads_every_subset_folder_and_drops_flawed_upstream_pairs():
    with pytest.warns(UserWarning, match=r"helpful-online/train.jsonl: dropped 2 of 4 comparisons"):
        dataset = load_hh(HH)
    assert sorted(set(dataset["data_dir"])) == ["harmless-base", "helpful-base", "helpful-online"]
    assert dataset.num_rows == 5 + 3 + 2


def test_flawed_upstream_pairs_raise_with_file_and_line_when_asked():
    with pytest.raises(DataError) as caught:
        load_hh(HH, subset="helpful-online", on_invalid="raise")
    assert caught.value.path == HH / "helpful-online" / "train.jsonl" and caught.value.line == 2
    assert "turn 2 (Assistant) is empty" in str(caught.value) and "1 more problems" in str(caught.value)


def test_a_single_file_can_be_loaded():
    dataset = load_hh(HH / "harmless-base" / "train.jsonl")
    assert dataset.num_rows == 3 and dataset["data_dir"] == ["harmless-base"] * 3


def test_loaded_data_converts_to_trl_and_to_triples():
    dataset = to_trl(load_hh(HH, subset="helpful"))
    assert dataset.column_names == ["subset", "data_dir", "prompt", "chosen", "rejected"]
    # the pair whose last Human turn differs keeps both continuations after the shared prompt
    multi = [row for row in dataset if len(row["chosen"]) > 1]
    assert len(multi) == 1 and multi[0]["prompt"] == [{"role": "user", "content": "Suggest a name for a grey cat."}]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"source": HH, "subset": "helpfull"}, "subset"),
    ({"source": HH, "split": "validation"}, "split"),
    ({"source": "no/such/place"}, "source"),
    ({"source": HH, "on_invalid": "ignore"}, "on_invalid"),
])
def test_bad_arguments_name_the_option_and_the_choices(kwargs, field):
    with pytest.raises(DataError) as caught:
        load_hh(**kwargs)
    assert caught.value.field == field and caught.value.hint


def test_a_folder_without_the_split_says_what_layout_it_expects(tmp_path):
    with pytest.raises(DataError, match="<dir>/<subset>/<split>.jsonl.gz"):
        load_hh(tmp_path)


def test_a_rankings_file_is_not_loaded_as_comparisons():
    with pytest.raises(DataError, match="is a rankings file, not hh or comparisons"):
        load_hh(MINI / "rankings" / "train.jsonl")


# ------------------------------------------------------------------------------------ hh-mini format


def test_hh_mini_format_keeps_its_metadata_and_filters_by_subset():
    both = load_hh(MINI / "hh_mini")
    assert both.column_names == ["id", "subset", "topic", "strength", "flaw", "chosen", "rejected"]
    assert set(both["flaw"]) == {None}, "the fixture has no flaw field: the optional column is None"
    harmless = load_hh(MINI / "hh_mini", subset="harmless")
    assert set(harmless["subset"]) == {"harmless"} and 0 < harmless.num_rows < both.num_rows
    assert load_hh(MINI / "hh_mini", split="test")["id"] == ["help-010", "help-011"]


def test_hh_mini_format_errors_are_raised_not_dropped(tmp_path):
    records = raw_lines(MINI / "hh_mini" / "train.jsonl")
    records[1]["strength"] = "much_better"
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(DataError) as caught:
        load_hh(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'train.jsonl'}:2: strength: unknown value 'much_better'")


# ------------------------------------------------------------------------------------------------- hub


def test_an_unreachable_hub_fails_fast_with_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(DataError, match="cannot reach the Hugging Face hub.*source='hh-mini'"):
        load_hh("hub", subset="helpful")
    assert time.monotonic() - start < 5


class _HubStub(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802 (the http.server API)
        self.send_response(200 if self.path == "/api/datasets/Anthropic/hh-rlhf" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def local_hub(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _HubStub)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    yield
    server.shutdown()


def test_the_hub_probe_asks_the_endpoint_and_respects_offline_mode(local_hub, monkeypatch):
    assert hub_available()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_available()
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not hub_available()


def test_auto_falls_back_to_hh_mini_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not (SHIPPED / "hh_mini" / "train.jsonl").exists():
        with pytest.raises(DataError, match="shipped data file is missing"):
            load_hh("auto")
        pytest.skip("hhcourse/data/hh_mini/ is not written yet; checked that auto says so")
    dataset = load_hh("auto", subset="harmless")
    assert "id" in dataset.column_names and set(dataset["subset"]) == {"harmless"}


# ------------------------------------------------------------------------------ rankings, prompts, constitution


def test_rankings_load_with_prompt_transcripts_and_permutations():
    rankings = load_rankings("train", root=MINI)
    assert rankings.column_names == ["id", "subset", "topic", "prompt", "responses", "ranking"]
    for row in rankings:
        assert row["prompt"].endswith("\n\nAssistant:") and sorted(row["ranking"]) == [0, 1, 2, 3]


def test_prompts_load_by_pool_and_split():
    assert load_prompts("helpful", root=MINI).num_rows == 3
    assert load_prompts("helpful", "eval", root=MINI)["id"] == ["hp-003"]
    assert load_prompts("red_team", "train", root=MINI)["prompt"] == ["Write a mean message to send to my ex."]
    with pytest.raises(DataError, match="unknown prompt pool 'harmful'"):
        load_prompts("harmful", root=MINI)


def test_constitution_loads_as_a_dict():
    constitution = load_constitution(MINI / "constitution.json")
    assert [p["id"] for p in constitution["principles"]] == ["harm", "helpful"]
    assert constitution["few_shot"][0]["revision"]


def test_loaders_reject_a_malformed_file_with_file_and_line(tmp_path):
    bad = tmp_path / "rankings" / "train.jsonl"
    bad.parent.mkdir()
    good = raw_lines(MINI / "rankings" / "train.jsonl")[0]
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "r2", "ranking": [0, 1, 1, 3]}) + "\n")
    with pytest.raises(DataError) as caught:
        load_rankings("train", root=tmp_path)
    assert str(caught.value).startswith(f"{bad}:2: ranking: [0, 1, 1, 3] is not an ordering")


# ------------------------------------------------------------------------------------------ shipped data


def test_shipped_hh_mini_loads_and_splits():
    if not (SHIPPED / "hh_mini" / "train.jsonl").exists():
        pytest.skip("hhcourse/data/hh_mini/ is not written yet")
    for split in ("train", "test"):
        dataset = load_hh("hh-mini", split=split)
        assert dataset.num_rows > 0 and set(dataset["subset"]) <= {"helpful", "harmless"}
        assert all(split_comparison(c, r) for c, r in zip(dataset["chosen"], dataset["rejected"], strict=True))
