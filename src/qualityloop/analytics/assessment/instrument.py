"""Survey instruments as data: constructs of Likert items on one agreement scale, read from and
written to YAML, with every problem in a file reported by its key path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

import yaml

BUILTIN_PACKAGE = "qualityloop.analytics.assessment"
BUILTIN_FOLDER = "instruments"
_ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_TOP_KEYS = ("id", "name", "version", "description", "scale", "constructs")
_SCALE_KEYS = ("min", "max", "labels")
_CONSTRUCT_KEYS = ("id", "name", "description", "items")
_ITEM_KEYS = ("id", "text", "reverse")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an instrument file: where (``source``, ``path``) and what was expected."""

    source: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.path}" if self.path else self.source
        return f"{where}: {self.message}"


class InstrumentError(ValueError):
    """An instrument file that cannot be used. ``problems`` lists every :class:`Problem` found;
    the message has one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Item:
    """One survey statement, answered on the instrument's scale.

    ``reverse`` marks a reverse-keyed item: agreeing with it means *less* of the construct, so
    its answers are turned round (``min + max - answer``) before any score or statistic.
    """

    id: str
    text: str
    reverse: bool = False


@dataclass(frozen=True)
class Construct:
    """A practice measured by several items (e.g. top-management leadership)."""

    id: str
    name: str
    description: str
    items: tuple[Item, ...]

    @property
    def item_ids(self) -> list[str]:
        """The ids of the construct's items, in order."""
        return [item.id for item in self.items]


@dataclass(frozen=True)
class Instrument:
    """A survey instrument: constructs of items answered on one scale from ``scale_min`` to
    ``scale_max``.

    Attributes
    ----------
    id, name, version, description : str
        What the instrument is; ``description`` says where its constructs come from.
    scale_min, scale_max : int
        The lowest and highest answer (1 and 7 for a seven-point agreement scale).
    scale_labels : dict of int to str
        Words for some or all scale points (``{1: "Strongly disagree", ...}``).
    constructs : tuple of Construct
        In the order they are shown and reported.

    Examples
    --------
    >>> instrument = builtin_instrument()
    >>> instrument.scale_min, instrument.scale_max
    (1, 7)
    >>> instrument.construct("leadership").name
    'Top-management leadership'
    >>> load_instrument(instrument.to_yaml()) == instrument
    True
    """

    id: str
    name: str
    version: str
    description: str
    scale_min: int
    scale_max: int
    scale_labels: Mapping[int, str] = field(default_factory=dict)
    constructs: tuple[Construct, ...] = ()

    def __hash__(self) -> int:
        # scale_labels is a dict, so the generated hash would fail; the YAML text is the identity
        return hash(self.to_yaml())

    @property
    def items(self) -> list[Item]:
        """Every item of every construct, in order."""
        return [item for construct in self.constructs for item in construct.items]

    @property
    def item_ids(self) -> list[str]:
        """The ids of every item, in order: the answer columns of a responses table."""
        return [item.id for item in self.items]

    @property
    def reverse_item_ids(self) -> list[str]:
        """The ids of the reverse-keyed items."""
        return [item.id for item in self.items if item.reverse]

    @property
    def blocks(self) -> dict[str, list[str]]:
        """Construct id -> its item ids (the measurement model of the instrument)."""
        return {construct.id: construct.item_ids for construct in self.constructs}

    def construct(self, construct_id: str) -> Construct:
        """The construct with this id; KeyError naming the ids there are otherwise."""
        for construct in self.constructs:
            if construct.id == construct_id:
                return construct
        known = ", ".join(c.id for c in self.constructs)
        raise KeyError(f"instrument {self.id!r} has no construct {construct_id!r}; "
                       f"its constructs are: {known}")

    def construct_of(self, item_id: str) -> Construct:
        """The construct an item belongs to."""
        for construct in self.constructs:
            if item_id in construct.item_ids:
                return construct
        raise KeyError(f"instrument {self.id!r} has no item {item_id!r}")

    def to_dict(self) -> dict[str, Any]:
        """The instrument as plain data, in the YAML file's shape."""
        scale: dict[str, Any] = {"min": self.scale_min, "max": self.scale_max}
        if self.scale_labels:
            scale["labels"] = dict(self.scale_labels)
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "scale": scale,
            "constructs": [
                {
                    "id": c.id,
                    "name": c.name,
                    "description": c.description,
                    "items": [{"id": i.id, "text": i.text, "reverse": i.reverse}
                              for i in c.items],
                }
                for c in self.constructs
            ],
        }

    def to_yaml(self) -> str:
        """The instrument as YAML text that :func:`load_instrument` reads back unchanged."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)


# loading -----------------------------------------------------------------------------------------


def load_instrument(path_or_text: str | Path, source: str | None = None) -> Instrument:
    """Read and check an instrument from a YAML file or YAML text.

    The YAML has the shape::

        id: tqm-core
        name: ...
        version: "1.0"
        description: ...
        scale: {min: 1, max: 7, labels: {1: Strongly disagree, 7: Strongly agree}}
        constructs:
          - id: leadership
            name: ...
            description: ...
            items:
              - {id: lead1, text: ..., reverse: false}

    ``description`` (instrument and construct), ``scale.labels`` and ``reverse`` may be left
    out. Ids start with a letter or ``_`` and hold letters, digits, ``_``, ``.`` or ``-``; item
    ids are unique across the instrument (they name the answer columns of a responses table).

    Parameters
    ----------
    path_or_text : str or pathlib.Path
        A path to a ``.yaml``/``.yml`` file, or the YAML text itself.
    source : str, optional
        Name used for the file in error messages (e.g. the name of an uploaded file). Defaults
        to the path, or ``"<text>"`` for text.

    Returns
    -------
    Instrument

    Raises
    ------
    InstrumentError
        Every problem found, each naming the file, the key path (such as
        ``constructs[3].items[1].reverse``) and what was expected. Unknown keys are problems
        too, so a misspelt key is not silently ignored.

    Examples
    --------
    >>> text = '''
    ... id: demo
    ... name: Demo
    ... version: "1"
    ... scale: {min: 1, max: 5}
    ... constructs:
    ...   - id: lead
    ...     name: Leadership
    ...     items:
    ...       - {id: l1, text: Managers lead on quality.}
    ...       - {id: l2, text: Quality is left to others., reverse: true}
    ... '''
    >>> load_instrument(text).reverse_item_ids
    ['l2']
    >>> load_instrument(text.replace("reverse: true", "reverse: maybe"))
    Traceback (most recent call last):
    ...
    qualityloop.analytics.assessment.instrument.InstrumentError: <text>: \
constructs[0].items[1].reverse: expected true or false, got 'maybe'
    """
    text, name = _read(path_or_text)
    source = source or name
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InstrumentError([Problem(source, where, f"not valid YAML: {problem}")]) from None
    return _Parser(source).instrument(data)


def builtin_instrument(name: str = "tqm-core") -> Instrument:
    """The instrument shipped with QualityLoop under this name (see :func:`builtin_names`).

    Examples
    --------
    >>> [c.id for c in builtin_instrument().constructs][:3]
    ['leadership', 'planning', 'customer_focus']
    """
    folder = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_FOLDER)
    resource = folder.joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise KeyError(f"no built-in instrument {name!r}; there are: "
                       f"{', '.join(builtin_names())}")
    return load_instrument(resource.read_text(encoding="utf-8"), source=f"{name}.yaml")


def builtin_names() -> list[str]:
    """Names of the instruments shipped with QualityLoop."""
    folder = resources.files(BUILTIN_PACKAGE).joinpath(BUILTIN_FOLDER)
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def _read(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, str):
        looks_like_path = "\n" not in path_or_text and path_or_text.endswith((".yaml", ".yml"))
        if not looks_like_path:
            return path_or_text, "<text>"
    path = Path(path_or_text)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as error:
        reason = "no such file" if isinstance(error, FileNotFoundError) else str(error)
        raise InstrumentError([Problem(str(path), "", f"cannot be read: {reason}")]) from None


class _Parser:
    """Turns loaded YAML into an Instrument, collecting every problem on the way."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.source, path, message))

    def instrument(self, data: Any) -> Instrument:
        if not isinstance(data, dict):
            self.fail("", f"expected a mapping with keys {', '.join(_TOP_KEYS)}, "
                          f"got {_kind(data)}")
            raise InstrumentError(self.problems)
        self.unknown_keys(data, _TOP_KEYS, "")
        scale_min, scale_max, labels = self.scale(data.get("scale"), "scale")
        instrument = Instrument(
            id=self.identifier(data, "id", ""),
            name=self.text(data, "name", ""),
            version=self.version(data),
            description=self.text(data, "description", "", required=False),
            scale_min=scale_min,
            scale_max=scale_max,
            scale_labels=labels,
            constructs=self.constructs(data.get("constructs")),
        )
        if self.problems:
            raise InstrumentError(self.problems)
        return instrument

    # pieces ----------------------------------------------------------------------------------

    def scale(self, data: Any, path: str) -> tuple[int, int, dict[int, str]]:
        if not isinstance(data, dict):
            self.fail(path, f"expected a mapping with min and max (e.g. {{min: 1, max: 7}}), "
                            f"got {_kind(data)}")
            return 1, 7, {}
        self.unknown_keys(data, _SCALE_KEYS, path)
        low = self.integer(data, "min", path)
        high = self.integer(data, "max", path)
        if low is not None and high is not None and low >= high:
            self.fail(f"{path}.max", f"expected a number above scale.min ({low}), got {high}")
        labels = self.labels(data.get("labels"), f"{path}.labels", low, high)
        return (low if low is not None else 1), (high if high is not None else 7), labels

    def labels(self, data: Any, path: str, low: int | None, high: int | None) -> dict[int, str]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.fail(path, f"expected a mapping of scale points to words, got {_kind(data)}")
            return {}
        labels = {}
        for point, word in data.items():
            if not _is_int(point):
                self.fail(f"{path}.{point}", "expected a whole-number scale point as the key")
            elif low is not None and high is not None and not low <= point <= high:
                self.fail(f"{path}.{point}", f"expected a scale point from {low} to {high}")
            elif not isinstance(word, str) or not word.strip():
                self.fail(f"{path}.{point}", f"expected text, got {_kind(word)}")
            else:
                labels[int(point)] = word
        return dict(sorted(labels.items()))

    def constructs(self, data: Any) -> tuple[Construct, ...]:
        if not isinstance(data, list) or not data:
            self.fail("constructs", f"expected a non-empty list of constructs, got {_kind(data)}")
            return ()
        constructs = []
        seen_constructs: dict[str, str] = {}
        seen_items: dict[str, str] = {}
        for position, entry in enumerate(data):
            path = f"constructs[{position}]"
            construct = self.construct(entry, path, seen_items)
            if construct is None:
                continue
            if construct.id in seen_constructs:
                self.fail(f"{path}.id", f"expected a unique construct id; {construct.id!r} "
                                        f"is also {seen_constructs[construct.id]}")
            seen_constructs.setdefault(construct.id, path)
            constructs.append(construct)
        return tuple(constructs)

    def construct(self, data: Any, path: str, seen_items: dict[str, str]) -> Construct | None:
        if not isinstance(data, dict):
            self.fail(path, f"expected a mapping with keys {', '.join(_CONSTRUCT_KEYS)}, "
                            f"got {_kind(data)}")
            return None
        self.unknown_keys(data, _CONSTRUCT_KEYS, path)
        entries = data.get("items")
        items: list[Item] = []
        if not isinstance(entries, list) or not entries:
            self.fail(f"{path}.items", f"expected a non-empty list of items, got {_kind(entries)}")
        else:
            for position, entry in enumerate(entries):
                item = self.item(entry, f"{path}.items[{position}]", seen_items)
                if item is not None:
                    items.append(item)
        return Construct(
            id=self.identifier(data, "id", path),
            name=self.text(data, "name", path),
            description=self.text(data, "description", path, required=False),
            items=tuple(items),
        )

    def item(self, data: Any, path: str, seen: dict[str, str]) -> Item | None:
        if not isinstance(data, dict):
            self.fail(path, f"expected a mapping with keys {', '.join(_ITEM_KEYS)}, "
                            f"got {_kind(data)}")
            return None
        self.unknown_keys(data, _ITEM_KEYS, path)
        item_id = self.identifier(data, "id", path)
        if item_id and item_id in seen:
            self.fail(f"{path}.id", f"expected a unique item id; {item_id!r} is also "
                                    f"{seen[item_id]}")
        seen.setdefault(item_id, path)
        reverse = data.get("reverse", False)
        if not isinstance(reverse, bool):
            self.fail(f"{path}.reverse", f"expected true or false, got {reverse!r}")
            reverse = False
        return Item(id=item_id, text=self.text(data, "text", path), reverse=reverse)

    # scalars ---------------------------------------------------------------------------------

    def unknown_keys(self, data: dict, known: tuple[str, ...], path: str) -> None:
        for key in data:
            if key not in known:
                self.fail(_join(path, str(key)),
                          f"unknown key; expected one of {', '.join(known)}")

    def identifier(self, data: dict, key: str, path: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not _ID_PATTERN.match(value):
            self.fail(_join(path, key), "expected an id: a letter or _ then letters, digits, "
                                        f"_, . or - (no spaces), got {value!r}")
            return "" if value is None else str(value)
        return value

    def text(self, data: dict, key: str, path: str, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(_join(path, key), f"expected text, got {_kind(value)}")
            return ""
        return value.strip()

    def version(self, data: dict) -> str:
        value = data.get("version")
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            self.fail("version", f'expected a version such as "1.0", got {_kind(value)}')
            return ""
        return str(value)

    def integer(self, data: dict, key: str, path: str) -> int | None:
        value = data.get(key)
        if not _is_int(value):
            self.fail(_join(path, key), f"expected a whole number, got {_kind(value)}")
            return None
        return int(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{value!r} (YAML reads yes/no/on/off as true/false: quote the text)"
    if isinstance(value, list | dict) and not value:
        return f"an empty {type(value).__name__}"
    if isinstance(value, str | int | float | bool):
        return repr(value)
    return f"a {type(value).__name__}"
