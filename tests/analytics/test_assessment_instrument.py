"""Survey instruments as YAML: the built-in TQM instrument, round trips, and errors that name
the key path."""

from __future__ import annotations

import textwrap

import pytest

from qualityloop.analytics.assessment import (
    InstrumentError,
    builtin_instrument,
    builtin_names,
    load_instrument,
)

GOOD = textwrap.dedent("""\
    id: demo
    name: Demo
    version: "1"
    scale: {min: 1, max: 5, labels: {1: Never, 5: Always}}
    constructs:
      - id: lead
        name: Leadership
        items:
          - {id: l1, text: Managers lead on quality.}
          - {id: l2, text: Quality is left to others., reverse: true}
      - id: data
        name: Data
        items:
          - {id: d1, text: We measure.}
          - {id: d2, text: We report.}
    """)


def messages(text: str) -> list[str]:
    with pytest.raises(InstrumentError) as caught:
        load_instrument(text, source="mine.yaml")
    return [str(p) for p in caught.value.problems]


def test_builtin_instrument_has_the_nine_tqm_constructs():
    instrument = builtin_instrument()
    assert builtin_names() == ["tqm-core"]
    assert [c.id for c in instrument.constructs] == [
        "leadership", "planning", "customer_focus", "training", "process", "supplier",
        "information", "involvement", "improvement"]
    assert (instrument.scale_min, instrument.scale_max) == (1, 7)
    assert all(3 <= len(c.items) <= 6 for c in instrument.constructs)
    assert len(instrument.reverse_item_ids) >= 4
    for source in ("Saraph", "Flynn", "Ahire", "Baldrige", "EFQM"):
        assert source in instrument.description


def test_builtin_instrument_round_trips_through_yaml():
    instrument = builtin_instrument()
    assert load_instrument(instrument.to_yaml()) == instrument


def test_loads_from_a_file_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    from_path = load_instrument(path)
    assert from_path == load_instrument(str(path)) == load_instrument(GOOD)
    assert from_path.blocks == {"lead": ["l1", "l2"], "data": ["d1", "d2"]}
    assert from_path.scale_labels == {1: "Never", 5: "Always"}
    assert from_path.reverse_item_ids == ["l2"]


def test_missing_file_is_an_instrument_error(tmp_path):
    with pytest.raises(InstrumentError, match=r"nope\.yaml: cannot be read: no such file"):
        load_instrument(tmp_path / "nope.yaml")


def test_instruments_are_hashable_by_content():
    assert hash(builtin_instrument()) == hash(builtin_instrument())
    assert len({builtin_instrument(), load_instrument(GOOD)}) == 2


def test_bad_reverse_names_its_key_path_and_file():
    text = GOOD.replace("reverse: true", "reverse: maybe")
    assert messages(text) == [
        "mine.yaml: constructs[0].items[1].reverse: expected true or false, got 'maybe'"]


def test_duplicate_item_ids_are_an_error():
    text = GOOD.replace("id: d2", "id: l1")
    assert messages(text) == ["mine.yaml: constructs[1].items[1].id: expected a unique item id; "
                              "'l1' is also constructs[0].items[0]"]


def test_empty_construct_is_an_error():
    text = GOOD.replace(
        "    items:\n      - {id: d1, text: We measure.}\n      - {id: d2, text: We report.}\n",
        "    items: []\n")
    assert messages(text) == [
        "mine.yaml: constructs[1].items: expected a non-empty list of items, got an empty list"]


@pytest.mark.parametrize(("scale", "expected"), [
    ("{min: 5, max: 1}", "scale.max: expected a number above scale.min (5), got 1"),
    ("{min: 1, max: seven}", "scale.max: expected a whole number, got 'seven'"),
    ("{min: 1}", "scale.max: expected a whole number, got nothing"),
    ("{min: 1, max: 5, labels: {9: Huge}}", "scale.labels.9: expected a scale point from 1 to 5"),
    ("7", "scale: expected a mapping with min and max"),
])
def test_bad_scale_is_an_error(scale, expected):
    text = GOOD.replace("{min: 1, max: 5, labels: {1: Never, 5: Always}}", scale)
    found = messages(text)
    assert len(found) == 1
    assert found[0].startswith(f"mine.yaml: {expected}")


def test_every_problem_is_reported_at_once():
    text = GOOD.replace("name: Data", "nme: Data").replace("id: l1", "id: 'l 1'")
    found = messages(text)
    assert "mine.yaml: constructs[1].nme: unknown key; expected one of id, name, description, " \
           "items" in found
    assert "mine.yaml: constructs[1].name: expected text, got nothing" in found
    assert any(m.startswith("mine.yaml: constructs[0].items[0].id: expected an id") for m in found)


def test_unquoted_yes_as_text_gets_a_hint():
    text = GOOD.replace("5: Always", "5: Yes")
    assert messages(text) == ["mine.yaml: scale.labels.5: expected text, got True (YAML reads "
                              "yes/no/on/off as true/false: quote the text)"]


def test_invalid_yaml_names_line_and_column():
    found = messages("id: x\n  name: [")
    assert found == ["mine.yaml: line 2, column 7: not valid YAML: mapping values are not "
                     "allowed here"]


def test_not_a_mapping():
    assert messages("- a\n- b\n")[0].startswith("mine.yaml: expected a mapping with keys id")


def test_unknown_builtin_name():
    with pytest.raises(KeyError, match="there are: tqm-core"):
        builtin_instrument("nope")
