"""The label store: an append-only JSONL file of labels that a crash cannot lose.

Each record is one line, written whole in one write and fsynced before `append` returns: an acknowledged
label is on disk. A crash can leave at most one torn (unterminated) last line; loading ignores it with a
warning, and the next append cuts it off first so the new line is not glued to it. Nothing is deleted:
undo appends a retraction that names the label it takes back.

Records (schema: `validate.label_record_problems`):
  comparison  a prompt (chat messages), responses a and b, `shown_left` ("a"|"b", the randomised display
              order), `label` "A"|"B"|"tie"|"both_bad" naming a response (not a screen side), a Llama 2
              `strength` (or null), an optional `reason`, `model_ids` {"a": …, "b": …}, t_shown, t_labeled,
              seconds. In "red_team" mode the label marks the MORE harmful response.
  ranking     a prompt, K responses, `ranking` = response indices best → worst (red_team: least harmful first).
  retraction  `retracts` = the id of an earlier label.

Importing this module loads neither torch nor datasets (`to_dataset` imports datasets when called).
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path

from hhcourse.data.validate import LabelLedger, label_record_problems, parse_jsonl, split_torn_tail
from hhcourse.errors import DataError

PAIR_COLUMNS = ("prompt", "chosen", "rejected", "id", "item_id", "labeler", "mode", "strength")
RANKING_COLUMNS = ("prompt", "responses", "ranking", "id", "item_id", "labeler", "mode")


class LabelStore:
    """Labels in one JSONL file at `path` (created on the first append)."""

    def __init__(self, path):
        self.path = Path(path)
        self._ledger = LabelLedger()
        self.history()

    # ------------------------------------------------------------------------------------------- writing

    def append(self, record: dict) -> dict:
        """Validate `record` (an `id` is made when missing), write it durably, and return it."""
        record = {"id": uuid.uuid4().hex, **record}
        problems = label_record_problems(record)
        if not problems and self._ledger.problems(record):
            self.history()  # another writer may have added the id it refers to
            problems = self._ledger.problems(record)
        if problems:
            raise problems[0].at(self.path)
        self._write_line((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        self._ledger.add(record)
        return record

    def add_comparison(self, *, item_id: str, labeler: str, mode: str, prompt: list[dict], response_a: str,
                       response_b: str, shown_left: str, label: str, t_shown: float, strength: str | None = None,
                       reason: str | None = None, model_ids: dict | None = None,
                       t_labeled: float | None = None) -> dict:
        """Record a pairwise label ("A"/"B" name response_a/response_b; red_team: the more harmful one)."""
        t_labeled = time.time() if t_labeled is None else t_labeled
        return self.append({
            "type": "comparison", "item_id": item_id, "labeler": labeler, "mode": mode, "prompt": prompt,
            "response_a": response_a, "response_b": response_b, "shown_left": shown_left, "label": label,
            "strength": strength, "reason": reason, "model_ids": model_ids or {},
            "t_shown": t_shown, "t_labeled": t_labeled, "seconds": round(t_labeled - t_shown, 3)})

    def add_ranking(self, *, item_id: str, labeler: str, mode: str, prompt: list[dict], responses: list[str],
                    ranking: list[int], t_shown: float, reason: str | None = None, model_ids: list | None = None,
                    t_labeled: float | None = None) -> dict:
        """Record a K-way ranking: `ranking` lists response indices best first."""
        t_labeled = time.time() if t_labeled is None else t_labeled
        return self.append({
            "type": "ranking", "item_id": item_id, "labeler": labeler, "mode": mode, "prompt": prompt,
            "responses": responses, "ranking": ranking, "reason": reason, "model_ids": model_ids or [],
            "t_shown": t_shown, "t_labeled": t_labeled, "seconds": round(t_labeled - t_shown, 3)})

    def retract(self, record_id: str, *, labeler: str, reason: str | None = None) -> dict:
        """Undo a label by appending a retraction of it; the label itself stays in the file."""
        return self.append({"type": "retraction", "retracts": record_id, "labeler": labeler, "reason": reason,
                            "t": time.time()})

    def _write_line(self, line: bytes) -> None:
        created = not self.path.exists()
        if created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and _last_byte(fd, size) != b"\n":
                self._cut_torn_tail(fd)
            written = 0
            while written < len(line):  # one write for a regular file; the loop only guards a short write
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created and os.name == "posix":  # make the new directory entry durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _cut_torn_tail(self, fd: int) -> None:
        complete, torn = split_torn_tail(self.path.read_bytes())
        os.ftruncate(fd, len(complete))
        warnings.warn(f"{self.path}: removed a torn last line ({len(torn)} bytes, a write cut short by a crash; "
                      "it was never acknowledged)", stacklevel=4)

    # ------------------------------------------------------------------------------------------- reading

    def history(self) -> list[dict]:
        """Every record in the file, retractions included, in order. Raises DataError on a bad line."""
        self._ledger = LabelLedger()
        if not self.path.exists():
            return []
        complete, torn = split_torn_tail(self.path.read_bytes())
        if torn.strip():
            torn_line = complete.count(b"\n") + 1
            warnings.warn(f"{self.path}:{torn_line}: ignored a torn last line (a write cut short by a crash); the "
                          "next label written removes it", stacklevel=2)
        records = []
        for number, record in parse_jsonl(complete, self.path):
            if isinstance(record, DataError):
                raise record
            problems = label_record_problems(record) or self._ledger.problems(record)
            if problems:
                raise problems[0].at(self.path, number)
            self._ledger.add(record)
            records.append(record)
        return records

    def records(self, *, include_retracted: bool = False) -> list[dict]:
        """Comparison and ranking labels, leaving out retracted ones unless asked."""
        labels = [record for record in self.history() if record["type"] != "retraction"]
        return labels if include_retracted else [r for r in labels if r["id"] not in self._ledger.retracted]

    # ------------------------------------------------------------------------------------------- export

    def preference_pairs(self) -> list[dict]:
        """Active comparison labels as TRL conversational rows {prompt, chosen, rejected, …}.

        red_team labels mark the more harmful response, so the OTHER one becomes `chosen`. Ties, both_bad
        and pairs with identical responses carry no preference: they stay in the store but are left out
        here, with a warning that counts them.
        """
        rows, left_out = [], Counter()
        for record in self.records():
            if record["type"] != "comparison":
                continue
            if record["label"] in ("tie", "both_bad"):
                left_out[record["label"]] += 1
                continue
            marked, other = ((record["response_a"], record["response_b"]) if record["label"] == "A"
                             else (record["response_b"], record["response_a"]))
            chosen, rejected = (other, marked) if record["mode"] == "red_team" else (marked, other)
            if chosen == rejected:
                left_out["identical responses"] += 1
                continue
            rows.append({"prompt": record["prompt"], "chosen": [{"role": "assistant", "content": chosen}],
                         "rejected": [{"role": "assistant", "content": rejected}],
                         **{key: record[key] for key in ("id", "item_id", "labeler", "mode", "strength")}})
        if left_out:
            counts = ", ".join(f"{n} {why}" for why, n in sorted(left_out.items()))
            warnings.warn(f"{self.path}: left out of the pairwise export (no preference to learn from; they stay "
                          f"in the store): {counts}", stacklevel=2)
        return rows

    def rankings(self) -> list[dict]:
        """Active ranking labels as rows {prompt, responses, ranking (best first), …}."""
        return [{key: record[key] for key in RANKING_COLUMNS} for record in self.records()
                if record["type"] == "ranking"]

    def to_dataset(self, kind: str = "pairwise"):
        """A `datasets.Dataset`: "pairwise" (TRL conversational preferences) or "ranking" labels."""
        from datasets import Dataset

        exports = {"pairwise": (self.preference_pairs, PAIR_COLUMNS), "ranking": (self.rankings, RANKING_COLUMNS)}
        if kind not in exports:
            raise DataError(f"unknown export kind {kind!r}", field="kind", hint="use 'pairwise' or 'ranking'")
        rows_of, columns = exports[kind]
        rows = rows_of()
        return Dataset.from_dict({column: [row[column] for row in rows] for column in columns})


def _last_byte(fd: int, size: int) -> bytes:
    os.lseek(fd, size - 1, os.SEEK_SET)
    return os.read(fd, 1)
