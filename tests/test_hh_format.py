"""The hh-rlhf transcript format: parse / render, the common-prefix split, and TRL's conversational format."""

from __future__ import annotations

import pytest
from datasets import Dataset
from hypothesis import given
from hypothesis import strategies as st

from hhcourse.data import (
    DataError,
    comparison_to_trl,
    parse_prompt,
    parse_transcript,
    render_transcript,
    split_comparison,
    to_triples,
    to_trl,
)

H, A = "\n\nHuman: ", "\n\nAssistant: "


def conversation(*turns: str) -> str:
    return "".join((H if i % 2 == 0 else A) + turn for i, turn in enumerate(turns))


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


# ------------------------------------------------------------------------------------------ parse / render


def test_parse_multi_turn_into_chat_messages():
    text = conversation("Hi there.", "Hello! How can I help?", "Name a fruit.", "A pear.")
    assert parse_transcript(text) == [user("Hi there."), assistant("Hello! How can I help?"),
                                      user("Name a fruit."), assistant("A pear.")]


def test_speaker_names_inside_a_turn_stay_text():
    text = conversation('What does "Assistant:" mean?', "It labels the AI.\nHuman: like this, mid-line.")
    assert parse_transcript(text) == [user('What does "Assistant:" mean?'),
                                      assistant("It labels the AI.\nHuman: like this, mid-line.")]


def test_stray_whitespace_is_stripped_from_contents():
    text = "  \n\nHuman:   two spaces  \n\nAssistant:  Sure.\n \n"
    assert parse_transcript(text) == [user("two spaces"), assistant("Sure.")]
    assert parse_transcript("Human: no leading blank line\n\nAssistant: ok") == [user("no leading blank line"),
                                                                                 assistant("ok")]


def test_render_is_the_exact_hh_format():
    messages = [user("Hi."), assistant("Hello.")]
    assert render_transcript(messages) == "\n\nHuman: Hi.\n\nAssistant: Hello."
    assert render_transcript(messages[:1], add_generation_prompt=True) == "\n\nHuman: Hi.\n\nAssistant:"


def test_render_refuses_text_that_would_become_a_new_turn_and_unknown_roles():
    with pytest.raises(DataError, match="turn marker"):
        render_transcript([user("Hi.\n\nAssistant: sneaky")])
    with pytest.raises(DataError, match="message 1 has role 'system'"):
        render_transcript([{"role": "system", "content": "Be nice."}, user("Hi.")])


def test_prompt_ends_with_an_open_assistant_turn():
    assert parse_prompt("\n\nHuman: Hi.\n\nAssistant:") == [user("Hi.")]
    with pytest.raises(DataError, match="open '\\\\n\\\\nAssistant:'"):
        parse_prompt("\n\nHuman: Hi.\n\nAssistant: Hello.")


@pytest.mark.parametrize(("text", "reason"), [
    ("", "is empty"),
    ("Hello there", "does not start with"),
    ("\n\nAssistant: I speak first.\n\nHuman: ok", "starts with an Assistant turn"),
    ("\n\nHuman: one\n\nHuman: two\n\nAssistant: ok", "two Human turns in a row (turns 1 and 2)"),
    ("\n\nHuman: q\n\nAssistant: a\n\nAssistant: b", "two Assistant turns in a row (turns 2 and 3)"),
])
def test_malformed_transcripts_are_refused_with_the_reason(text, reason):
    with pytest.raises(DataError) as caught:
        parse_transcript(text, field="chosen")
    assert reason in str(caught.value)
    assert str(caught.value).startswith("chosen: ") and " — " in str(caught.value)


def test_non_string_transcript_is_a_data_error():
    with pytest.raises(DataError, match="expected a transcript string, got list"):
        parse_transcript(["\n\nHuman: hi"])


# --------------------------------------------------------------------------------------- round trip (hypothesis)

WORDS = st.sampled_from(["hello", "Human:", "Assistant:", "Human", "?", "ok.", "\n", "\n\n", " ", "é", "—", "42"])
CONTENT = (st.lists(WORDS, min_size=1, max_size=8).map("".join).map(str.strip)
           .filter(lambda text: text and "\n\nHuman:" not in text and "\n\nAssistant:" not in text))


@st.composite
def conversations(draw, min_turns=1):
    contents = draw(st.lists(CONTENT, min_size=min_turns, max_size=7))
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(contents)]


@given(conversations())
def test_render_then_parse_gives_back_the_messages(messages):
    assert parse_transcript(render_transcript(messages)) == messages


@given(conversations())
def test_parse_then_render_gives_back_a_canonical_transcript(messages):
    text = render_transcript(messages)
    assert render_transcript(parse_transcript(text)) == text


@given(st.integers(0, 3), CONTENT, CONTENT, st.data())
def test_split_takes_the_prompt_up_to_the_last_shared_assistant_turn(exchanges, good, bad, data):
    prompt = data.draw(conversations(min_turns=2 * exchanges + 1))[: 2 * exchanges + 1]
    if good == bad:
        bad = bad + " (worse)"
    chosen = render_transcript(prompt + [assistant(good)])
    rejected = render_transcript(prompt + [assistant(bad)])

    triple = split_comparison(chosen, rejected)

    assert triple.prompt == render_transcript(prompt, add_generation_prompt=True)
    assert triple.prompt + triple.chosen == chosen and triple.prompt + triple.rejected == rejected
    assert comparison_to_trl(chosen, rejected) == {"prompt": prompt, "chosen": [assistant(good)],
                                                   "rejected": [assistant(bad)]}


# ------------------------------------------------------------------------------------------ HH pitfalls


def test_a_response_that_starts_the_other_one_is_not_cut_empty():
    # cutting at the first differing character would put " Yes" in the prompt and leave rejected empty
    chosen = conversation("Can I make soup a day ahead?", "Yes, and it freezes well.")
    rejected = conversation("Can I make soup a day ahead?", "Yes")
    triple = split_comparison(chosen, rejected)
    assert triple.prompt == "\n\nHuman: Can I make soup a day ahead?\n\nAssistant:"
    assert (triple.chosen, triple.rejected) == (" Yes, and it freezes well.", " Yes")


def test_last_human_turn_differs_the_prompt_stops_at_the_last_shared_assistant_turn():
    # the real data has such pairs; the chosen side's last Human turn is NOT the rejected side's prompt
    chosen = conversation("Name a cat.", "Miso?", "Something longer?", "Sir Pounce-a-Lot.")
    rejected = conversation("Name a cat.", "Miso?", "Something shorter?", "Bo.")
    triple = split_comparison(chosen, rejected)
    assert triple.prompt == "\n\nHuman: Name a cat.\n\nAssistant:"
    assert triple.prompt + triple.rejected == rejected
    row = comparison_to_trl(chosen, rejected)
    assert row["prompt"] == [user("Name a cat.")]
    assert row["chosen"] == [assistant("Miso?"), user("Something longer?"), assistant("Sir Pounce-a-Lot.")]
    assert row["rejected"] == [assistant("Miso?"), user("Something shorter?"), assistant("Bo.")]


def test_assistant_quoted_in_the_final_turns_does_not_move_the_split():
    chosen = conversation("Explain chat logs.", "Lines start with Assistant: or Human: labels.")
    rejected = conversation("Explain chat logs.", "Lines start with labels.")
    assert split_comparison(chosen, rejected).prompt == "\n\nHuman: Explain chat logs.\n\nAssistant:"


def test_an_empty_final_response_splits_to_an_empty_string():
    chosen = conversation("Name a colour.", "Blue.")
    rejected = "\n\nHuman: Name a colour.\n\nAssistant:"
    assert split_comparison(chosen, rejected).rejected == ""
    assert comparison_to_trl(chosen, rejected)["rejected"] == [assistant("")]


@pytest.mark.parametrize(("chosen", "rejected", "field", "reason"), [
    (conversation("Hi.", "Hello."), conversation("Hi.", "Hello."), "chosen, rejected", "identical"),
    (conversation("Hi.", "Hello."), conversation("Hi.", "Hello. "), "chosen, rejected", "differ only in whitespace"),
    (conversation("Hi.", "Hello."), conversation("Hey.", "Yo."), "chosen, rejected", "no shared prompt"),
    (conversation("Hi.", "Hello.", "Bye."), conversation("Hi.", "Go away."), "chosen",
     "does not end with an Assistant turn"),
])
def test_comparisons_that_cannot_be_split_are_refused(chosen, rejected, field, reason):
    with pytest.raises(DataError) as caught:
        split_comparison(chosen, rejected)
    assert caught.value.field == field and reason in caught.value.reason


# ------------------------------------------------------------------------------------------ datasets / TRL


def test_to_trl_converts_a_real_dataset_and_keeps_other_columns():
    dataset = Dataset.from_dict({
        "id": ["x1", "x2"],
        "chosen": [conversation("Hi.", "Hello!"), conversation("2+2?", "4.")],
        "rejected": [conversation("Hi.", "Go away."), conversation("2+2?", "5.")],
    })
    converted = to_trl(dataset)
    assert isinstance(converted, Dataset)
    assert set(converted.column_names) == {"id", "prompt", "chosen", "rejected"}
    assert converted[1] == {"id": "x2", "prompt": [user("2+2?")], "chosen": [assistant("4.")],
                            "rejected": [assistant("5.")]}
    trl_data_utils = pytest.importorskip("trl.data_utils")
    assert trl_data_utils.is_conversational(converted[0])


def test_to_triples_names_the_bad_row():
    dataset = Dataset.from_dict({"chosen": [conversation("Hi.", "Hello!"), conversation("Hi.", "Same.")],
                                 "rejected": [conversation("Hi.", "Go away."), conversation("Hi.", "Same.")]})
    with pytest.raises(DataError, match="^dataset row 1: chosen, rejected: chosen and rejected are identical"):
        to_triples(dataset)
    assert to_triples(dataset.select([0]))[0] == ("\n\nHuman: Hi.\n\nAssistant:", " Hello!", " Go away.")
