"""Registry of declared laws.

Every module in this package that defines module-level `Law` instances is
imported on first use, and each law is registered under its name and aliases.
Adding a law is one new module with one declaration; nothing here changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from scalelab.laws.base import Law, Transform, identity, is_curve_law, positive, unit

_REGISTRY: dict[str, Law] = {}
_ALIASES: dict[str, str] = {}
_BUILTIN: dict[str, Law] = {}  # the laws this package declares (not a user's registered ones)


def _discover() -> None:
    if _REGISTRY:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Law):
                register(value)
                _BUILTIN[value.name] = value


def register(law: Law) -> Law:
    """Add ``law`` to the registry (idempotent for the same object)."""
    for key in (law.name, *law.aliases):
        owner = _ALIASES.get(key)
        if owner is not None and _REGISTRY[owner] is not law:
            raise ValueError(f"law name {key!r} is already taken by {owner!r}")
        _ALIASES[key] = law.name
    _REGISTRY[law.name] = law
    return law


class UnknownLawError(KeyError, ValueError):
    """No law is registered under the name asked for: a KeyError (a name looked up) and a ValueError (a bad argument),
    whose message reads as written (a KeyError's would be quoted)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get(name: str | Law) -> Law:
    """The law registered as ``name`` (or an alias; any case when that names one law); a `Law` passes through.

    Raises:
      UnknownLawError: no such law (a KeyError and a ValueError), naming the nearest name.
    """
    if isinstance(name, Law):
        return name
    if not isinstance(name, str):
        held = getattr(name, "law", None)  # a FitResult, Posterior, Forecast, ... holds its Law
        hint = f" (it holds one: pass its .law, and its .params where parameters are asked)" if isinstance(held, Law) else ""
        raise TypeError(f"expected a law's name or a Law, got a {type(name).__name__}{hint}")
    _discover()
    key = _ALIASES.get(name)
    if key is None:  # 'Chinchilla', ' kaplan ': the one law whose name or alias matches regardless of case
        folded = {_ALIASES[k] for k in _ALIASES if k.lower() == name.strip().lower()}
        key = folded.pop() if len(folded) == 1 else None
    if key is None:
        close = nearest(name)
        hint = f"did you mean {close!r}? " if close else ""
        raise UnknownLawError(f"unknown law {name!r}; {hint}known laws: {', '.join(names())}")
    return _REGISTRY[key]


def nearest(name: str) -> str | None:
    """The registered law whose name or alias is closest to ``name`` (a misspelling), or None: the one suggestion every
    "unknown law" message makes (`get`, ``compare --laws``)."""
    import difflib

    _discover()
    close = difflib.get_close_matches(str(name).lower(), list(_ALIASES), n=1, cutoff=0.6)
    return _ALIASES[close[0]] if close else None


def listed(laws) -> list:
    """The laws a ``laws`` argument names, as a list: names separated by commas in one string, one `Law`, or a
    sequence of names and Laws (each element as `get` takes it; not looked up here).

    Raises:
      TypeError: anything else (a number, a dict, a FitResult: pass its ``.law``).
    """
    if isinstance(laws, str):
        return [s.strip() for s in laws.split(",") if s.strip()]
    if isinstance(laws, Law):
        return [laws]
    if isinstance(laws, (list, tuple)) or (hasattr(laws, "__iter__") and not isinstance(laws, (dict, bytes))):
        out = list(laws)
        bad = [x for x in out if not isinstance(x, (str, Law))]
        if not bad:
            return out
        laws = bad[0]
    held = getattr(laws, "law", None)
    hint = " (it holds one: pass its .law)" if isinstance(held, Law) else ""
    raise TypeError(f"laws: expected law names (a list, or one string separated by commas), a Law or a list of "
                    f"Laws; got a value of type {type(laws).__name__}{hint}")


def names() -> list[str]:
    """Registered law names, sorted."""
    _discover()
    return sorted(_REGISTRY)


def stable_name(law: Law) -> str | None:
    """``law.name`` when ``law`` is one of the laws this package declares, else ``None``.

    A declared law is fixed by the package's source, so a program traced for it can be kept on disk
    and reused by a later process (`scalelab.kept.compile_program`); a user's law (or a copy of a
    declared one with other fields) is traced in every process.
    """
    _discover()
    return law.name if _BUILTIN.get(law.name) is law else None


def program_name(kind: str, law: Law, *settings) -> str | None:
    """``"kind|law|setting|..."``: the name under which a program built for ``law`` is kept traced on disk
    (`scalelab.programs.call_timed`), or ``None`` when ``law`` is not one of this package's (`stable_name`)."""
    name = stable_name(law)
    return None if name is None else "|".join([kind, name, *map(str, settings)])


def all_laws() -> list[Law]:
    _discover()
    return [_REGISTRY[n] for n in names()]


__all__ = ["Law", "Transform", "identity", "is_curve_law", "positive", "unit", "get", "nearest", "listed", "names",
           "all_laws", "UnknownLawError", "register", "stable_name", "program_name"]
