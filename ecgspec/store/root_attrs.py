"""Read-only properties of :class:`ecgspec.store.reader.SpectrogramFile` for the file's root attributes;
no torch here."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["RootAttribute", "shape"]


class RootAttribute:
    """A read-only property for the root attribute of the same name, converted by ``convert``."""

    def __init__(self, convert: Callable[[Any], Any], doc: str) -> None:
        self.convert = convert
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return self.convert(obj._h5().attrs[self.name])


def shape(value: Any) -> tuple[int, ...]:
    """An attribute's array of sizes as a tuple of ints."""
    return tuple(int(n) for n in value)
