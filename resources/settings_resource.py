"""Dagster resources whose settings are a plain dataclass, declared once.

An engine's settings live in a dataclass that plain Python (a CLI, a benchmark, the training process) builds and
checks without dagster. The resource that configures the engine in Dagster gets its fields from that dataclass:
same names, types and defaults, so a field added to the dataclass is a setting in privft.yaml and in the Dagster
launchpad at once, and the two can never drift.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Iterable

import dagster as dg
import pydantic


class SettingsResource(dg.ConfigurableResource):
    settings_class: ClassVar[type]

    def settings(self) -> Any:
        """This resource's values as the settings dataclass (fields the resource leaves out keep their defaults)."""
        cls = type(self).settings_class
        return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(cls)
                      if f.name in type(self).model_fields})


def settings_resource(settings: type, exclude: Iterable[str] = ()) -> type[SettingsResource]:
    """A ``ConfigurableResource`` base class with one field per field of the dataclass ``settings`` (but
    ``exclude``); subclass it to add resource-only fields and the methods that call the engine."""
    hints = typing.get_type_hints(settings)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        if f.name in exclude:
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        fields[f.name] = (hints[f.name], default)
    base = pydantic.create_model(f"{settings.__name__}Fields", __base__=SettingsResource,
                                 __module__=settings.__module__, **fields)
    base.settings_class = settings
    return base
