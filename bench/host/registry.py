"""A small typed name → object registry that answers unknown names with suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message suggests close matches."""

    def __init__(self, kind: str, name: str, known: list[str], note: str = "") -> None:
        self.kind, self.name, self.known = kind, name, known
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean: {', '.join(close)}?" if close else f"known: {', '.join(known)}"
        super().__init__(f"unknown {kind} {name!r}; {hint}{note}")

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateNameError(ValueError):
    """Two plugins registered the same name."""


class Registry(Generic[T]):
    """Holds named specs of one kind (models, tasks, metrics, tokenizers)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        #: Returns a note for unknown-name errors (e.g. which plugins failed to load).
        self.missing_hint: Callable[[], str] | None = None

    def register(self, name: str, item: T, owner: str = "") -> None:
        """Add ``item`` under ``name``; a second registration of a name is an error."""
        if name in self._items:
            raise DuplicateNameError(
                f"{self.kind} {name!r} registered twice: by {self._owners[name]!r} and {owner!r}"
            )
        self._items[name] = item
        self._owners[name] = owner

    def get(self, name: str) -> T:
        """Return the item called ``name`` or raise :class:`UnknownNameError`."""
        try:
            return self._items[name]
        except KeyError:
            note = self.missing_hint() if self.missing_hint is not None else ""
            raise UnknownNameError(self.kind, name, sorted(self._items), note) from None

    def owner(self, name: str) -> str:
        """Name of the plugin that registered ``name``."""
        return self._owners[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._items)
