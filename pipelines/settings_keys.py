"""Every key in the settings must name a setting; every value must have its setting's type.

Dagster resources quietly drop keyword arguments they do not know, so ``trainer: {learnig_rate: 1.0e-4}``
trained with the default 2e-3 and said nothing. Here an unknown section or key is refused, naming the section,
the key and the closest valid key; nested sections (``trainer.kubernetes``) are checked the same way. Type
errors come back in the same list, so one fix-and-retry cycle clears them all.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, Iterable, Optional


class SettingsError(ValueError):
    """Every problem found in a configuration, as sentences that say what to change."""

    def __init__(self, problems: list[str], source: str = "the settings"):
        self.problems = list(problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the configuration; nothing was run.\n"
                         + "\n".join(f"  - {p}" for p in self.problems))


def closest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest choice, else the list of valid ones."""
    choices = sorted(str(c) for c in choices)
    near = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else f"; valid: {', '.join(choices)}"


def key_problems(settings: dict[str, Any], classes: dict[str, type]) -> list[str]:
    """Unknown sections, sections that are not mappings, and keys no setting has (recursively)."""
    problems = []
    for section, values in settings.items():
        if section not in classes:
            problems.append(f"section {section!r} is unknown{closest(section, classes)}")
        elif values is not None and not isinstance(values, dict):
            problems.append(f"{section}: expected settings as 'key: value' lines under it, got "
                            f"{type(values).__name__} {values!r}")
        elif values:
            problems += _unknown_keys(section, values, classes[section])
    return problems


def _unknown_keys(path: str, values: dict[str, Any], cls: type) -> list[str]:
    fields = cls.model_fields
    problems = []
    for key, value in values.items():
        if key not in fields:
            problems.append(f"{path}.{key} is not a setting of {path}{closest(key, fields)}")
        elif isinstance(value, dict) and (nested := _settings_class(fields[key].annotation)) is not None:
            problems += _unknown_keys(f"{path}.{key}", value, nested)
    return problems


def _settings_class(annotation: Any) -> Optional[type]:
    """The settings class inside ``Optional[X]`` / ``X`` when X has fields of its own (a nested section)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
            return candidate
    return None


def construct(name: str, cls: type, values: dict[str, Any]) -> tuple[Any, list[str]]:
    """``cls(**values)``, or None and one sentence per field pydantic refused.

    A number or a yes/no given for a text setting is taken as its text: YAML reads ``activation_memory: 8`` as a
    number and ``activation_memory: off`` as false."""
    from pydantic import ValidationError

    fields = getattr(cls, "model_fields", {})
    values = {k: _as_text(v) if k in fields and fields[k].annotation is str else v for k, v in values.items()}
    try:
        return cls(**values), []
    except ValidationError as exc:
        return None, [f"{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
                      for e in exc.errors()]


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value) if isinstance(value, (int, float)) else value
