"""The course's data: the hh-rlhf transcript format, loaders, validation, and the label store.

Importing this package loads neither torch nor datasets; functions that return a `datasets.Dataset`
import it when called.
"""

from hhcourse.data.hh import (
    ASSISTANT,
    HUMAN,
    Triple,
    comparison_to_trl,
    parse_prompt,
    parse_transcript,
    render_transcript,
    split_comparison,
    to_triples,
    to_trl,
)
from hhcourse.data.load import hub_available, load_constitution, load_hh, load_prompts, load_rankings
from hhcourse.data.store import LabelStore
from hhcourse.data.validate import Report, validate_file
from hhcourse.errors import DataError

__all__ = [
    "ASSISTANT", "HUMAN", "DataError", "LabelStore", "Report", "Triple", "comparison_to_trl", "hub_available",
    "load_constitution", "load_hh", "load_prompts", "load_rankings", "parse_prompt", "parse_transcript",
    "render_transcript", "split_comparison", "to_trl", "to_triples", "validate_file",
]
