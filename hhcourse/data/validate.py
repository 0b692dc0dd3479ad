"""Checking the course's data files, every problem as `path:line: field: reason — what to do`.

File kinds (told by the content, else by the path; or named with `kind=`):
  comparisons   hh-mini lines {"id", "subset", "topic", "strength", "chosen", "rejected"}
  hh            the real Anthropic/hh-rlhf lines {"chosen", "rejected"} (.jsonl or .jsonl.gz)
  rankings      lines {"id", "subset", "topic", "prompt", "responses", "ranking"}
  prompts       lines {"id", "topic", "prompt", "split"}
  constitution  one JSON object {"principles": [...], "few_shot": [...]}
  labels        the label store's comparison, ranking and retraction records
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from hhcourse.data.hh import (
    ASSISTANT,
    HUMAN,
    check_role_order,
    parse_prompt,
    parse_transcript,
    split_comparison,
)
from hhcourse.errors import DataError

KINDS = ("comparisons", "hh", "rankings", "prompts", "constitution", "labels")
SUBSETS = ("helpful", "harmless")
STRENGTHS = ("significantly_better", "better", "slightly_better", "negligibly_better")  # Llama 2's levels
RANKING_SIZE = 4
PROMPT_SPLITS = ("train", "eval")
MAX_TRANSCRIPT_CHARS = 20_000
LABELS = ("A", "B", "tie", "both_bad")
MODES = ("helpful", "red_team")
RECORD_TYPES = ("comparison", "ranking", "retraction")
PRINCIPLE_FIELDS = ("id", "name", "critique_request", "revision_request")
FEW_SHOT_FIELDS = ("prompt", "response", "critique", "revision")
_JSON_TYPE = {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
              dict: "an object", type(None): "null"}


@dataclass
class Report:
    """The outcome of checking one file: its kind, its records, the problems, and notes that are not errors."""

    path: Path
    kind: str | None
    records: list[tuple[int, dict]] = field(default_factory=list)  # (line number, record)
    problems: list[DataError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_file(path, kind: str | None = None, *, max_chars: int = MAX_TRANSCRIPT_CHARS) -> Report:
    """Check a data file; `kind` is detected when not given. Never raises for bad content."""
    if kind is not None and kind not in KINDS:
        raise DataError(f"unknown file kind {kind!r}", field="kind", hint=f"use one of {', '.join(KINDS)}")
    path = Path(path)
    try:
        data = read_bytes(path)
    except DataError as err:
        return Report(path, kind, problems=[err])
    if kind == "constitution" or (kind is None and path.suffix == ".json"):
        return _validate_constitution(path, data)
    return _validate_jsonl(path, data, kind, max_chars)


def checked_records(path, kinds: tuple[str, ...], *, max_chars: int = MAX_TRANSCRIPT_CHARS) -> Report:
    """The report of a file that must be valid and of one of `kinds`; raise its first problem otherwise."""
    report = checked_kind(path, kinds, max_chars=max_chars)
    if report.problems:
        raise first_problem(report.problems, path)
    return report


def checked_kind(path, kinds: tuple[str, ...], *, max_chars: int = MAX_TRANSCRIPT_CHARS) -> Report:
    """The report of a file that must be one of `kinds` (its records may still have problems)."""
    report = validate_file(path, kinds[0] if len(kinds) == 1 else None, max_chars=max_chars)
    if report.kind is not None and report.kind not in kinds:
        raise DataError(f"is a {report.kind} file, not {' or '.join(kinds)}", path=path,
                        hint="check the path, or use the loader for that kind of file")
    return report


def first_problem(problems: list[DataError], where) -> DataError:
    """The first problem, its hint saying how many more there are."""
    first, more = problems[0], len(problems) - 1
    extra = f" (and {more} more problems: `hhcourse data validate {where}` lists them)" if more else ""
    return DataError(first.reason, path=first.path, line=first.line, field=first.field, hint=(first.hint or "") + extra)


def record_problems(kind: str, record: dict, *, max_chars: int = MAX_TRANSCRIPT_CHARS) -> list[DataError]:
    """The problems of one record of a JSONL kind, without location."""
    return _RECORD_CHECKS[kind](record, max_chars)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped for `.gz`."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data
    except FileNotFoundError:
        raise DataError("no such file", path=path, hint="check the path") from None
    except IsADirectoryError:
        raise DataError("is a directory, not a file", path=path, hint="name a file inside it") from None
    except (gzip.BadGzipFile, EOFError) as err:
        raise DataError(f"not a valid gzip file ({err})", path=path,
                        hint="re-download it, or drop the .gz suffix if it is plain text") from None


def split_torn_tail(data: bytes) -> tuple[bytes, bytes]:
    """(complete lines, unterminated last line): a line counts only once its newline is written."""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


def parse_jsonl(data: bytes, path) -> list[tuple[int, dict | DataError]]:
    """(line number, JSON object or the problem with that line) for every non-blank line."""
    out = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            out.append((number, DataError(f"not UTF-8 text (byte {raw[err.start]:#04x} at column {err.start + 1})",
                                          path=path, line=number, hint="re-save the file as UTF-8")))
            continue
        except json.JSONDecodeError as err:
            out.append((number, DataError(f"bad JSON: {err.msg} at column {err.colno}", path=path, line=number,
                                          hint="each line must be one complete JSON object")))
            continue
        if not isinstance(record, dict):
            record = DataError(f"expected a JSON object, got {_json_type(record)}", path=path, line=number,
                               hint="each line must be one JSON object {…}")
        out.append((number, record))
    return out


def detect_kind(path: Path, record) -> str | None:
    """The kind of a JSONL file from its first record's keys, else from its path."""
    if isinstance(record, dict):
        keys = set(record)
        if "type" in keys:
            return "labels"
        if keys & {"responses", "ranking"}:
            return "rankings"
        if keys & {"chosen", "rejected"}:
            return "comparisons" if keys & {"id", "subset", "topic", "strength"} else "hh"
        if "prompt" in keys:
            return "prompts"
    for part, kind in (("rankings", "rankings"), ("prompts", "prompts"), ("hh_mini", "comparisons"),
                       ("labels", "labels")):
        if part in path.parts or part in path.name:
            return kind
    return None


def label_record_problems(record: dict) -> list[DataError]:
    """Schema problems of one label-store record (no location; the caller adds it)."""
    check = _Fields(record)
    record_type = check.choice("type", RECORD_TYPES)
    check.text("id")
    check.text("labeler")
    if record_type == "retraction":
        check.text("retracts")
        check.number("t")
        check.text("reason", optional=True)
        return check.problems
    if record_type is None:
        return check.problems
    check.text("item_id")
    check.choice("mode", MODES)
    check.messages("prompt")
    check.text("reason", optional=True, allow_empty=True)
    for name in ("t_shown", "t_labeled"):
        check.number(name)
    check.number("seconds", minimum=0)
    if record_type == "comparison":
        _check_comparison_label(check)
    else:
        _check_ranking_label(check)
    return check.problems


class LabelLedger:
    """The ids a label file holds so far and which are retracted, to check the next record against."""

    def __init__(self):
        self.types: dict[str, str] = {}
        self.retracted: set[str] = set()

    def problems(self, record: dict) -> list[DataError]:
        record_id = record["id"]
        if record_id in self.types:
            return [DataError(f"duplicate record id {record_id!r}", field="id",
                              hint="every record needs its own id; the store makes one when you leave it out")]
        target = record.get("retracts")
        if record["type"] != "retraction":
            return []
        if self.types.get(target) not in ("comparison", "ranking"):
            return [DataError(f"retracts {target!r}, which is not an earlier label in this store",
                              field="retracts", hint="retract the id of a comparison or ranking label")]
        if target in self.retracted:
            return [DataError(f"{target!r} is already retracted", field="retracts",
                              hint="nothing to do: a label is retracted once")]
        return []

    def add(self, record: dict) -> None:
        self.types[record["id"]] = record["type"]
        if record["type"] == "retraction":
            self.retracted.add(record["retracts"])


# ------------------------------------------------------------------------------------------- JSONL files


def _validate_jsonl(path: Path, data: bytes, kind: str | None, max_chars: int) -> Report:
    lines = parse_jsonl(data, path)
    first = next((record for _, record in lines if isinstance(record, dict)), None)
    kind = kind or detect_kind(path, first)
    report = Report(path, kind)
    if kind == "labels":
        complete, torn = split_torn_tail(data)
        if torn.strip():
            torn_line = complete.count(b"\n") + 1
            lines = [(number, record) for number, record in lines if number != torn_line]
            report.notes.append(f"{path}:{torn_line}: torn last line (a write cut short by a crash): the store "
                                "ignores it and removes it on its next write")
    if kind is None:
        report.problems += [record for _, record in lines if isinstance(record, DataError)]
        reason = "has no records" if not lines else "cannot tell what kind of file this is"
        report.problems.append(DataError(reason, path=path, hint=f"name the kind with --kind ({', '.join(KINDS)})"))
        return report
    if not lines and kind != "labels":
        report.problems.append(DataError("has no records", path=path, hint="add at least one record"))
    checker = _RECORD_CHECKS[kind]
    seen_ids: dict[str, int] = {}
    ledger = LabelLedger()
    for number, record in lines:
        if isinstance(record, DataError):
            report.problems.append(record)
            continue
        report.records.append((number, record))
        problems = checker(record, max_chars)
        if kind == "labels" and not problems:
            problems = ledger.problems(record)
            ledger.add(record)
        elif kind != "labels" and isinstance(record.get("id"), str):
            if record["id"] in seen_ids:
                problems.append(DataError(f"duplicate id {record['id']!r} (first on line {seen_ids[record['id']]})",
                                          field="id", hint="give every record its own id"))
            seen_ids.setdefault(record["id"], number)
        report.problems += [problem.at(path, number) for problem in problems]
    return report


def _comparison_problems(record: dict, max_chars: int, *, with_metadata: bool) -> list[DataError]:
    check = _Fields(record)
    if with_metadata:
        check.text("id")
        check.choice("subset", SUBSETS)
        check.text("topic")
        check.choice("strength", STRENGTHS)
    sides = {name: check.transcript(name, max_chars) for name in ("chosen", "rejected")}
    if all(messages is not None for messages in sides.values()):
        check.attempt(split_comparison, record["chosen"], record["rejected"])
    return check.problems


def _ranking_problems(record: dict, max_chars: int) -> list[DataError]:
    check = _Fields(record)
    check.text("id")
    check.choice("subset", SUBSETS)
    check.text("topic")
    check.transcript("prompt", max_chars, prompt=True)
    responses = check.typed("responses", list)
    if responses is not None:
        if len(responses) != RANKING_SIZE:
            check.problem("responses", f"has {len(responses)} responses, expected {RANKING_SIZE}",
                          f"give exactly {RANKING_SIZE} candidate responses")
        for index, response in enumerate(responses):
            if not isinstance(response, str) or not response.strip():
                check.problem(f"responses[{index}]", f"expected a non-empty string, got {_short(response)}",
                              "write the response's text")
        check.permutation("ranking", len(responses))
    return check.problems


def _prompt_problems(record: dict, max_chars: int) -> list[DataError]:
    check = _Fields(record)
    check.text("id")
    check.text("topic")
    check.choice("split", PROMPT_SPLITS)
    prompt = check.text("prompt")
    if prompt is not None and (HUMAN in prompt or ASSISTANT in prompt):
        check.problem("prompt", "contains a turn marker ('\\n\\nHuman:' or '\\n\\nAssistant:')",
                      "a prompt here is one user message, without speaker names")
    return check.problems


def _check_comparison_label(check: _Fields) -> None:
    check.text("response_a")
    check.text("response_b")
    check.choice("shown_left", ("a", "b"))
    label = check.choice("label", LABELS)
    strength = check.choice("strength", STRENGTHS, optional=True)
    if strength is not None and label in ("tie", "both_bad"):
        check.problem("strength", f"is {strength!r} but the label is {label!r}",
                      "a strength says how much better the preferred response is: leave it null here")
    model_ids = check.typed("model_ids", dict)
    if model_ids is not None and (set(model_ids) - {"a", "b"}
                                  or not all(isinstance(value, str) for value in model_ids.values())):
        check.problem("model_ids", f"expected {{'a': model id, 'b': model id}}, got {_short(model_ids)}",
                      "map 'a' and 'b' to the names of the models that wrote each response")


def _check_ranking_label(check: _Fields) -> None:
    responses = check.typed("responses", list)
    if responses is None:
        return
    if len(responses) < 2 or not all(isinstance(text, str) and text.strip() for text in responses):
        check.problem("responses", "expected two or more non-empty strings", "rank at least two responses")
    check.permutation("ranking", len(responses))
    model_ids = check.typed("model_ids", list)
    if model_ids is not None and model_ids and len(model_ids) != len(responses):
        check.problem("model_ids", f"has {len(model_ids)} entries for {len(responses)} responses",
                      "give one model id per response, or an empty list")


_RECORD_CHECKS = {
    "comparisons": lambda record, max_chars: _comparison_problems(record, max_chars, with_metadata=True),
    "hh": lambda record, max_chars: _comparison_problems(record, max_chars, with_metadata=False),
    "rankings": _ranking_problems,
    "prompts": _prompt_problems,
    "labels": lambda record, max_chars: label_record_problems(record),
}


# ------------------------------------------------------------------------------------------ constitution


def _validate_constitution(path: Path, data: bytes) -> Report:
    report = Report(path, "constitution")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        report.problems.append(DataError(f"not UTF-8 text (byte {data[err.start]:#04x})", path=path, line=line,
                                         hint="re-save the file as UTF-8"))
        return report
    try:
        constitution = json.loads(text)
    except json.JSONDecodeError as err:
        report.problems.append(DataError(f"bad JSON: {err.msg} at column {err.colno}", path=path, line=err.lineno,
                                         hint="fix the JSON syntax (a missing comma or quote?)"))
        return report
    check = _Fields(constitution) if isinstance(constitution, dict) else None
    if check is None:
        report.problems.append(DataError(f"expected a JSON object, got {_json_type(constitution)}", path=path,
                                         line=1, hint='write {"principles": [...], "few_shot": [...]}'))
        return report
    report.records.append((1, constitution))
    principles = check.typed("principles", list)
    few_shot = check.typed("few_shot", list)
    report.problems += [problem.at(path, 1) for problem in check.problems]
    if principles is not None and not principles:
        report.problems.append(DataError("is empty", path=path, line=1, field="principles",
                                         hint="add at least one principle"))
    seen: set[str] = set()
    for items, key, fields in ((principles, "principles", PRINCIPLE_FIELDS), (few_shot, "few_shot", FEW_SHOT_FIELDS)):
        lines = _array_item_lines(text, key)
        for index, item in enumerate(items or []):
            line = lines[index] if index < len(lines) else 1
            item_check = _Fields(item if isinstance(item, dict) else {}, prefix=f"{key}[{index}].")
            for name in fields:
                item_check.text(name)
            if key == "principles" and isinstance(item, dict) and isinstance(item.get("id"), str):
                if item["id"] in seen:
                    item_check.problem("id", f"duplicate principle id {item['id']!r}", "give every principle its own id")
                seen.add(item["id"])
            report.problems += [problem.at(path, line) for problem in item_check.problems]
    return report


def _array_item_lines(text: str, key: str) -> list[int]:
    """The line where each item of the top-level array `"key": [...]` starts."""
    match = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
    if not match:
        return []
    decoder, position, lines = json.JSONDecoder(), match.end(), []
    while True:
        position += len(text[position:]) - len(text[position:].lstrip(" \t\r\n,"))
        if position >= len(text) or text[position] == "]":
            return lines
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)


# ---------------------------------------------------------------------------------------- field checks


class _Fields:
    """Field checks on one JSON object; each failure is collected as a DataError (located later)."""

    def __init__(self, record: dict, prefix: str = ""):
        self.record, self.prefix, self.problems = record, prefix, []

    def problem(self, name: str, reason: str, hint: str) -> None:
        self.problems.append(DataError(reason, field=self.prefix + name, hint=hint))

    def attempt(self, function, *args, **kwargs):
        """Call `function`; collect the DataError it raises. Returns its result or None."""
        try:
            return function(*args, **kwargs)
        except DataError as err:
            self.problems.append(err)
            return None

    def typed(self, name: str, kind: type | tuple[type, ...], *, optional: bool = False):
        if name not in self.record:
            if not optional:
                self.problem(name, "missing", f"add the field {name!r}")
            return None
        value = self.record[name]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            wanted = _JSON_TYPE[kind[0] if isinstance(kind, tuple) else kind]
            self.problem(name, f"expected {wanted}, got {_json_type(value)}", f"make {name!r} {wanted}")
            return None
        return value

    def text(self, name: str, *, optional: bool = False, allow_empty: bool = False) -> str | None:
        value = self.typed(name, str, optional=optional)
        if value is not None and not allow_empty and not value.strip():
            self.problem(name, "is empty", f"write the {name.replace('_', ' ')}")
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, optional: bool = False) -> str | None:
        value = self.typed(name, str, optional=optional)
        if value is not None and value not in choices:
            self.problem(name, f"unknown value {value!r}", f"use one of {', '.join(choices)}")
            return None
        return value

    def number(self, name: str, *, minimum: float | None = None) -> float | None:
        value = self.typed(name, (int, float))
        if value is not None and minimum is not None and value < minimum:
            self.problem(name, f"is {value}, below {minimum}", f"{name} cannot be negative")
            return None
        return value

    def permutation(self, name: str, size: int) -> None:
        value = self.typed(name, list)
        indices = value is not None and all(isinstance(i, int) and not isinstance(i, bool) for i in value)
        if value is not None and not (indices and sorted(value) == list(range(size))):
            self.problem(name, f"{value} is not an ordering of the responses 0..{size - 1}",
                         "list every response index exactly once, best first")

    def transcript(self, name: str, max_chars: int, *, prompt: bool = False) -> list | None:
        text = self.text(name)
        if text is None:
            return None
        if len(text) > max_chars:
            self.problem(name, f"is {len(text)} characters long, over the limit of {max_chars}",
                         "shorten the conversation, or raise the limit (max_chars=, --max-chars)")
            return None
        messages = self.attempt(parse_prompt if prompt else parse_transcript, text, field=name)
        for number, message in enumerate(messages or [], start=1):
            if not message["content"]:
                speaker = "Human" if message["role"] == "user" else "Assistant"
                self.problem(name, f"turn {number} ({speaker}) is empty", "write the turn's text, or drop the record")
                return None
        return messages

    def messages(self, name: str) -> None:
        messages = self.typed(name, list)
        if messages is None:
            return
        if not messages or not all(isinstance(m, dict) and m.get("role") in ("user", "assistant")
                                   and isinstance(m.get("content"), str) for m in messages):
            self.problem(name, "expected a non-empty list of {'role': 'user'|'assistant', 'content': str}",
                         "pass the conversation so far as chat messages")
            return
        if messages[-1]["role"] != "user":
            self.problem(name, "does not end with a user message", "the prompt ends where the response starts")
            return
        self.attempt(check_role_order, messages, field=self.prefix + name)


def _json_type(value) -> str:
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
