"""The Anthropic hh-rlhf transcript format, chat messages, and a comparison's prompt / chosen / rejected.

A transcript is a run of turns `"\\n\\nHuman: …"` and `"\\n\\nAssistant: …"`. Only a speaker name right after a
blank line starts a turn, so "Assistant:" quoted inside a turn stays text. A comparison is two transcripts,
chosen and rejected, that share the conversation up to where they differ; the prompt is everything up to
and including the last `"\\n\\nAssistant:"` both share (the common-prefix rule). Taking the prompt from the
chosen side's last Human turn instead is wrong where the two sides differ earlier (TRL #1858), and cutting
at the first differing character eats a shared start of the responses ("Yes" vs "Yes, and…").
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from hhcourse.errors import DataError

HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
_TURN_START = re.compile(r"\n\n(Human|Assistant):")
_ROLE_OF_SPEAKER = {"Human": "user", "Assistant": "assistant"}
_SPEAKER_OF_ROLE = {"user": "Human", "assistant": "Assistant"}
_FORMAT_HINT = "an hh-rlhf transcript is '\\n\\nHuman: …' and '\\n\\nAssistant: …' turns, taking turns"


class Triple(NamedTuple):
    """A comparison in text form: `prompt + chosen` and `prompt + rejected` are the two transcripts."""

    prompt: str  # the shared conversation, ending in "\n\nAssistant:"
    chosen: str  # the rest of the chosen transcript, usually " <final response>"
    rejected: str


def parse_transcript(text: str, *, field: str = "transcript") -> list[dict[str, str]]:
    """Chat messages (`{"role": "user"|"assistant", "content": …}`, content stripped) of a transcript."""
    if not isinstance(text, str):
        raise DataError(f"expected a transcript string, got {type(text).__name__}", field=field, hint=_FORMAT_HINT)
    body = text.lstrip()
    if not body:
        raise DataError("is empty", field=field, hint=_FORMAT_HINT)
    if not body.startswith(("Human:", "Assistant:")):
        raise DataError(f"does not start with '\\n\\nHuman:' (starts {body[:20]!r})", field=field, hint=_FORMAT_HINT)
    pieces = _TURN_START.split("\n\n" + body)[1:]
    messages = [{"role": _ROLE_OF_SPEAKER[speaker], "content": content.strip()}
                for speaker, content in zip(pieces[::2], pieces[1::2], strict=True)]
    check_role_order(messages, field=field)
    return messages


def check_role_order(messages: list[dict[str, str]], *, field: str) -> None:
    """Raise unless the roles are user / assistant, the user starts, and the two take turns."""
    for number, message in enumerate(messages, start=1):
        if message["role"] not in _SPEAKER_OF_ROLE:
            raise DataError(f"message {number} has role {message['role']!r}", field=field,
                            hint="hh-rlhf has only 'user' and 'assistant'; fold a system prompt into the first user turn")
    if messages and messages[0]["role"] != "user":
        raise DataError("starts with an Assistant turn", field=field,
                        hint="a conversation starts with the human ('\\n\\nHuman: …')")
    for number, (before, after) in enumerate(zip(messages, messages[1:], strict=False), start=2):
        if before["role"] == after["role"]:
            speaker = _SPEAKER_OF_ROLE[after["role"]]
            raise DataError(f"two {speaker} turns in a row (turns {number - 1} and {number})", field=field,
                            hint="merge the two turns into one, or add the missing turn between them")


def render_transcript(messages: list[dict[str, str]], *, add_generation_prompt: bool = False) -> str:
    """The hh-rlhf transcript of chat messages; `add_generation_prompt` appends `"\\n\\nAssistant:"`."""
    check_role_order(messages, field="messages")
    parts = []
    for number, message in enumerate(messages, start=1):
        content = message["content"]
        if _TURN_START.search(content):
            raise DataError(f"message {number} contains a turn marker ('\\n\\nHuman:' or '\\n\\nAssistant:')",
                            field="messages", hint="the text would split into two turns; rephrase it")
        speaker = _SPEAKER_OF_ROLE[message["role"]]
        parts.append(f"\n\n{speaker}: {content}" if content else f"\n\n{speaker}:")
    return "".join(parts) + (ASSISTANT if add_generation_prompt else "")


def parse_prompt(text: str, *, field: str = "prompt") -> list[dict[str, str]]:
    """The messages of a prompt transcript that ends in an open `"\\n\\nAssistant:"` (which is dropped)."""
    messages = parse_transcript(text, field=field)
    if messages[-1]["role"] != "assistant" or messages[-1]["content"]:
        raise DataError("does not end with an open '\\n\\nAssistant:'", field=field,
                        hint="a prompt ends where the assistant's reply would start: '…\\n\\nAssistant:'")
    return messages[:-1]


def split_comparison(chosen: str, rejected: str) -> Triple:
    """Split a comparison at the last `"\\n\\nAssistant:"` the two transcripts share (multi-turn safe)."""
    sides = {field: parse_transcript(text, field=field) for field, text in (("chosen", chosen), ("rejected", rejected))}
    for field, messages in sides.items():
        if messages[-1]["role"] != "assistant":
            raise DataError("does not end with an Assistant turn", field=field,
                            hint="the last turn of each side is the response being compared")
    if sides["chosen"] == sides["rejected"]:
        reason = "are identical" if chosen == rejected else "differ only in whitespace"
        raise DataError(f"chosen and rejected {reason}", field="chosen, rejected",
                        hint="drop this pair: it carries no preference")
    shared = os.path.commonprefix([chosen, rejected])
    cut = shared.rfind(ASSISTANT)
    if cut < 0:
        raise DataError("no shared prompt: the two sides differ before the first '\\n\\nAssistant:'",
                        field="chosen, rejected",
                        hint="both sides must repeat the same conversation and differ only in the reply")
    end = cut + len(ASSISTANT)
    return Triple(chosen[:end], chosen[end:], rejected[end:])


def comparison_to_trl(chosen: str, rejected: str) -> dict[str, list[dict[str, str]]]:
    """TRL's conversational preference row: `{"prompt": messages, "chosen": [...], "rejected": [...]}`.

    `chosen` / `rejected` hold the messages after the shared prompt: one assistant message, or more where
    the two sides differ before their final turn.
    """
    prompt = parse_prompt(split_comparison(chosen, rejected).prompt)
    return {"prompt": prompt,
            "chosen": parse_transcript(chosen, field="chosen")[len(prompt):],
            "rejected": parse_transcript(rejected, field="rejected")[len(prompt):]}


def to_trl(dataset):
    """A `datasets.Dataset` of hh comparisons in TRL conversational format; other columns are kept."""
    from datasets import Dataset

    rows = [_located(index, comparison_to_trl, chosen, rejected)
            for index, (chosen, rejected) in enumerate(zip(dataset["chosen"], dataset["rejected"], strict=True))]
    kept = {name: list(dataset[name]) for name in dataset.column_names if name not in ("chosen", "rejected")}
    return Dataset.from_dict({**kept, **{key: [row[key] for row in rows] for key in ("prompt", "chosen", "rejected")}})


def to_triples(dataset) -> list[Triple]:
    """`(prompt, chosen_response, rejected_response)` text triples of a Dataset (or a dict of columns)."""
    return [_located(index, split_comparison, chosen, rejected)
            for index, (chosen, rejected) in enumerate(zip(dataset["chosen"], dataset["rejected"], strict=True))]


def _located(index: int, convert, chosen: str, rejected: str):
    try:
        return convert(chosen, rejected)
    except DataError as err:
        raise err.at(f"dataset row {index}") from None
