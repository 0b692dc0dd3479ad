"""Loading the course's data as `datasets.Dataset`s: hh comparisons, rankings, prompt pools, the constitution.

`load_hh` reads the real Anthropic/hh-rlhf from the hub, the shipped hh-mini, or local files in either
format, always through the same parser and checks. Comparisons in the real format that fail the checks are
upstream data you cannot fix, so they are dropped with a warning that counts them; in the hh-mini format
(data you wrote) the first problem is raised as `path:line: field: reason — what to do`.
"""

from __future__ import annotations

import os
import urllib.request
import warnings
from pathlib import Path

from hhcourse.data.validate import (
    MAX_TRANSCRIPT_CHARS,
    SUBSETS,
    checked_kind,
    checked_records,
    first_problem,
    record_problems,
)
from hhcourse.errors import DataError

HUB_DATASET = "Anthropic/hh-rlhf"
HUB_SUBSETS = {"harmless-base": "harmless", "helpful-base": "helpful", "helpful-online": "helpful",
               "helpful-rejection-sampled": "helpful"}  # hub data_dir -> helpful / harmless
DEFAULT_HUB_SUBSET = {"helpful": "helpful-base", "harmless": "harmless-base"}
HH_SPLITS = ("train", "test")
PROMPT_KINDS = ("helpful", "red_team")
PROMPT_SPLITS = ("train", "eval")
SHIPPED = Path(__file__).parent
HUB_PROBE_SECONDS = 3.0
MINI_COLUMNS = ("id", "subset", "topic", "strength", "flaw", "chosen", "rejected")  # flaw: optional, what is wrong with rejected
HH_COLUMNS = ("chosen", "rejected", "subset", "data_dir")
_SOURCE_HINT = "use 'auto', 'hub', 'hh-mini', or the path of a folder or .jsonl[.gz] file in the hh-rlhf format"


def load_hh(source: str = "auto", subset: str | None = None, split: str = "train", *,
            max_chars: int = MAX_TRANSCRIPT_CHARS, on_invalid: str | None = None):
    """hh comparisons with raw `chosen` / `rejected` transcripts, exactly as in Anthropic/hh-rlhf.

    source: "hub" (Anthropic/hh-rlhf through `datasets`), "hh-mini" (shipped), a folder
        (`<dir>/<split>.jsonl`, or `<dir>/<subset>/<split>.jsonl[.gz]` as on the hub) or one file;
        "auto" = the hub when it answers within seconds (never with HF_HUB_OFFLINE=1), else hh-mini.
    subset: "helpful" / "harmless" (on the hub: helpful-base / harmless-base), an exact hub folder
        ("helpful-online", …), or None for all the source has.
    on_invalid: "raise" or "drop"; None = drop for the real format, raise for the hh-mini format.
    Columns: hh-mini format: id, subset, topic, strength, flaw (None when absent), chosen, rejected; real format: chosen,
    rejected, subset (helpful / harmless), data_dir (the hub folder, or None).
    """
    if split not in HH_SPLITS:
        raise DataError(f"unknown split {split!r}", field="split", hint=f"use one of {', '.join(HH_SPLITS)}")
    if on_invalid not in (None, "raise", "drop"):
        raise DataError(f"unknown value {on_invalid!r}", field="on_invalid", hint="use 'raise', 'drop' or None")
    hub_names = _hub_names(subset)
    if source == "auto":
        if hub_available():
            try:
                return _load_hub(hub_names, split, max_chars, on_invalid or "drop")
            except DataError as err:
                warnings.warn(f"{err}; using the shipped hh-mini instead", stacklevel=2)
        source = "hh-mini"
    if source == "hub":
        return _load_hub(hub_names, split, max_chars, on_invalid or "drop")
    path = _shipped("hh_mini") if source == "hh-mini" else Path(source)
    if not path.exists():
        raise DataError(f"{source!r} is not a known source or an existing path", field="source", hint=_SOURCE_HINT)
    return _load_local(path, subset, hub_names, split, max_chars, on_invalid)


def load_rankings(split: str = "train", *, root=None):
    """K-way rankings: id, subset, topic, prompt (transcript ending in "\\n\\nAssistant:"), responses, ranking."""
    if split not in HH_SPLITS:
        raise DataError(f"unknown split {split!r}", field="split", hint=f"use one of {', '.join(HH_SPLITS)}")
    path = _shipped("rankings", f"{split}.jsonl", root=root)
    report = checked_records(path, ("rankings",))
    return _dataset([record for _, record in report.records],
                    ("id", "subset", "topic", "prompt", "responses", "ranking"))


def load_prompts(kind: str = "helpful", split: str | None = None, *, root=None):
    """A prompt pool ("helpful" or "red_team"): id, topic, prompt (one user message), split."""
    if kind not in PROMPT_KINDS:
        raise DataError(f"unknown prompt pool {kind!r}", field="kind", hint=f"use one of {', '.join(PROMPT_KINDS)}")
    if split not in (None, *PROMPT_SPLITS):
        raise DataError(f"unknown split {split!r}", field="split", hint="use 'train', 'eval' or None (both)")
    path = _shipped("prompts", f"{kind}.jsonl", root=root)
    records = [record for _, record in checked_records(path, ("prompts",)).records]
    return _dataset([r for r in records if split in (None, r["split"])], ("id", "topic", "prompt", "split"))


def load_constitution(path=None) -> dict:
    """The constitution: {"principles": [{id, name, critique_request, revision_request}], "few_shot": [...]}."""
    path = _shipped("constitution.json") if path is None else Path(path)
    return checked_records(path, ("constitution",)).records[0][1]


def hub_available(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the hub answers for Anthropic/hh-rlhf within `timeout` seconds (False when offline is set)."""
    if _offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/api/datasets/{HUB_DATASET}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------------------------------------ sources


def _load_hub(hub_names: list[str], split: str, max_chars: int, on_invalid: str):
    if not _offline() and not hub_available():
        raise DataError(f"cannot reach the Hugging Face hub for {HUB_DATASET}", field="source",
                        hint="use source='hh-mini' (shipped) or a local copy; if the data is in your HF cache, "
                             "set HF_HUB_OFFLINE=1")
    from datasets import load_dataset

    rows = []
    for name in hub_names:
        try:
            hub = load_dataset(HUB_DATASET, data_dir=name, split=split)
        except Exception as err:  # datasets raises many kinds; the user needs one clear message
            raise DataError(f"could not load {HUB_DATASET} {name}/{split}: {type(err).__name__}: {err}",
                            field="source", hint="check the connection or HF cache, or use source='hh-mini'") from None
        numbered = [(index, {"chosen": chosen, "rejected": rejected})
                    for index, (chosen, rejected) in enumerate(zip(hub["chosen"], hub["rejected"], strict=True))]
        where = f"{HUB_DATASET}/{name}/{split}"  # problems name the row index where a file names the line
        problems = [problem.at(where, index) for index, record in numbered
                    for problem in record_problems("hh", record, max_chars=max_chars)]
        rows += [{**record, "subset": HUB_SUBSETS[name], "data_dir": name}
                 for record in _valid(numbered, problems, on_invalid, where)]
    return _dataset(rows, HH_COLUMNS)


def _load_local(path: Path, subset: str | None, hub_names: list[str], split: str, max_chars: int,
                on_invalid: str | None):
    rows, columns = [], HH_COLUMNS
    for file, data_dir in _local_files(path, hub_names, split):
        report = checked_kind(file, ("hh", "comparisons"), max_chars=max_chars)
        policy = on_invalid or ("raise" if report.kind == "comparisons" else "drop")
        records = _valid(report.records, report.problems, policy, file)
        if report.kind == "comparisons":
            columns = MINI_COLUMNS
            wanted = {HUB_SUBSETS.get(name) for name in hub_names} if subset is not None else set(SUBSETS)
            rows += [{key: r.get(key) for key in MINI_COLUMNS} for r in records if r["subset"] in wanted]
        else:
            data_dir = data_dir or (file.parent.name if file.parent.name in HUB_SUBSETS else None)
            coarse = HUB_SUBSETS[data_dir] if data_dir else (HUB_SUBSETS.get(hub_names[0]) if subset else None)
            rows += [{"chosen": r["chosen"], "rejected": r["rejected"], "subset": coarse, "data_dir": data_dir}
                     for r in records]
    return _dataset(rows, columns)


def _local_files(path: Path, hub_names: list[str], split: str) -> list[tuple[Path, str | None]]:
    """The files to read: `path` itself, `<path>/<split>.jsonl[.gz]`, or one per hub subset folder."""
    if path.is_file():
        return [(path, None)]
    direct = _split_file(path, split)
    if direct:
        return [(direct, None)]
    found = [(file, name) for name in hub_names if (file := _split_file(path / name, split))]
    if not found:
        raise DataError(f"no {split}.jsonl or {split}.jsonl.gz here or in its subset folders "
                        f"({', '.join(hub_names)})", path=path,
                        hint="lay the files out as on the hub: <dir>/<subset>/<split>.jsonl.gz")
    return found


def _split_file(folder: Path, split: str) -> Path | None:
    return next((file for file in (folder / f"{split}.jsonl", folder / f"{split}.jsonl.gz") if file.is_file()), None)


def _valid(numbered: list[tuple[int, dict]], problems: list, on_invalid: str, where) -> list[dict]:
    """The records without problems; raise instead when asked to, or when a problem is not about one record."""
    if problems and (on_invalid == "raise" or any(problem.line is None for problem in problems)):
        raise first_problem(problems, where)
    bad = {problem.line for problem in problems}
    if bad:
        warnings.warn(f"{where}: dropped {len(bad)} of {len(numbered)} comparisons that fail the checks, "
                      f"e.g. {problems[0]}", stacklevel=4)
    return [record for line, record in numbered if line not in bad]


# ------------------------------------------------------------------------------------------------ helpers


def _hub_names(subset: str | None) -> list[str]:
    """The hub folders a `subset` argument stands for."""
    if subset is None:
        return list(HUB_SUBSETS)
    if subset in HUB_SUBSETS:
        return [subset]
    if subset in DEFAULT_HUB_SUBSET:
        return [DEFAULT_HUB_SUBSET[subset]]
    raise DataError(f"unknown subset {subset!r}", field="subset",
                    hint=f"use helpful, harmless, None (all), or a hub folder: {', '.join(HUB_SUBSETS)}")


def _shipped(*parts: str, root=None) -> Path:
    path = Path(root or SHIPPED).joinpath(*parts)
    if root is None and not path.exists():
        raise DataError("the shipped data file is missing", path=path,
                        hint="reinstall hhcourse (`pip install -e .` in the repository)")
    return path


def _offline() -> bool:
    return any(os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
               for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _dataset(rows: list[dict], columns: tuple[str, ...]):
    from datasets import Dataset

    return Dataset.from_dict({column: [row[column] for row in rows] for column in columns})
