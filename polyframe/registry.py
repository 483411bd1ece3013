"""A named collection of interchangeable components.

Each kind of component (encoders, cells, heads, samplers, data sources) has
one `Registry`. Plugins fill registries at import time with the `register`
decorator; the binary then makes every registered component selectable from
gin by `@<registry>.<name>` (see `polyframe.gin_utils`). The registry itself
knows nothing about gin: it only stores components and notifies listeners.
"""

import difflib
from typing import Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

from polyframe.errors import UserFacingError

T = TypeVar("T")
Listener = Callable[["Registry", str, object], None]


class DuplicateComponentError(ValueError):
    """Raised when two components claim the same name in one registry."""


class UnknownComponentError(UserFacingError, KeyError):
    """Raised when a name is looked up that no component was registered under."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message.
        return self.args[0]


class Registry:
    """Maps names to components of one kind.

    Attributes:
        name: The registry's name; also the gin module of its components, so an
            LSTM registered in `cells` is selected in gin as `@cells.lstm`.
        description: One line saying what the components are for.
    """

    def __init__(self, name: str, description: str):
        self.name = name
        self.description = description
        self._components: Dict[str, object] = {}
        self._origins: Dict[str, str] = {}
        self._listeners: List[Listener] = []

    def register(self, name: str) -> Callable[[T], T]:
        """Returns a decorator that registers a class or function under `name`.

        Args:
            name: The name users select the component by. Must be unique within
                this registry.

        Returns:
            A decorator that returns the component unchanged.

        Raises:
            DuplicateComponentError: if `name` is already taken.
        """

        def decorator(component: T) -> T:
            self.add(name, component)
            return component

        return decorator

    def add(self, name: str, component: object) -> None:
        """Registers `component` under `name` (see `register`).

        Raises:
            DuplicateComponentError: if `name` is already taken.
            ValueError: if `name` is not a valid identifier (gin could not select it).
        """
        if not name.isidentifier():
            raise ValueError(
                    f"{self.name}: component name {name!r} must be a Python identifier "
                    "so that gin can select it.")
        if name in self._components:
            raise DuplicateComponentError(
                    f"{self.name}: the name {name!r} is already registered by "
                    f"{self._origins[name]}; pick another name for "
                    f"{_origin_of(component)}.")
        self._components[name] = component
        self._origins[name] = _origin_of(component)
        for listener in self._listeners:
            listener(self, name, component)

    def get(self, name: str) -> object:
        """Returns the component registered under `name`.

        Raises:
            UnknownComponentError: with the available names, the closest match and a
                hint that a plugin package may be missing.
        """
        try:
            return self._components[name]
        except KeyError:
            raise UnknownComponentError(self.unknown_name_message(name)) from None

    def unknown_name_message(self, name: str) -> str:
        """Says that `name` is unknown here, what is known, and what to do."""
        available = ", ".join(sorted(self._components)) or "(none)"
        close = difflib.get_close_matches(name, list(self._components), n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        from polyframe import plugin_loading  # It imports registries' users.
        failed = plugin_loading.blocked()
        blocked = (" Blocked: " + "; ".join(failed) + "." if failed else "")
        return (f"unknown {self.name} component {name!r}.{suggestion} "
                        f"Available {self.name}: {available}. If {name!r} comes from a "
                        "plugin package, install it (its 'polyframe.plugins' entry point "
                        "is loaded automatically) or 'import' its module in the gin "
                        f"file.{blocked}")

    def add_listener(self, listener: Listener) -> None:
        """Calls `listener(registry, name, component)` for every component.

        Components already registered are replayed at once; later ones are
        reported as they register, so plugins imported from a gin file are seen
        too.
        """
        self._listeners.append(listener)
        for name, component in list(self._components.items()):
            listener(self, name, component)

    def origin(self, name: str) -> str:
        """Returns `module.qualname` of the component registered as `name`."""
        self.get(name)
        return self._origins[name]

    def items(self) -> Iterator[Tuple[str, object]]:
        """Yields `(name, component)` pairs sorted by name."""
        yield from sorted(self._components.items())

    def __contains__(self, name: str) -> bool:
        return name in self._components

    def __len__(self) -> int:
        return len(self._components)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {sorted(self._components)})"


def _origin_of(component: object) -> str:
    module = getattr(component, "__module__", "?")
    qualname = getattr(component, "__qualname__", type(component).__name__)
    return f"{module}.{qualname}"


def closest_across(registries: "List[Registry]", name: str) -> Optional[str]:
    """Returns `registry.component` closest to a bare `name`, if any is close."""
    candidates = {f"{r.name}.{n}": n for r in registries for n, _ in r.items()}
    by_short = difflib.get_close_matches(name, list(candidates.values()), n=1)
    if not by_short:
        return None
    return next(k for k, v in candidates.items() if v == by_short[0])
