"""Modules that are also functions: ``scalelab.forecast(...)``, ``scalelab.report(...)``, ``scalelab.compare(...)``.

The public face (`scalelab.__init__`) exports these as modules, so that ``scalelab.forecast.Forecast``
and ``scalelab.compare.compare_one`` work, and promises that calling one calls its function of the
same name. `make_callable` keeps that promise for a module, once, at the end of the module.
"""

from __future__ import annotations

import sys
import types


class CallableModule(types.ModuleType):
    """A module whose call is its function of the same name (the module's last dotted part)."""

    @property
    def _function_name(self) -> str:
        return self.__name__.rsplit(".", 1)[-1]

    def __call__(self, *args, **kwargs):
        return getattr(self, self._function_name)(*args, **kwargs)

    @property
    def __doc__(self):
        """The module's docstring, then the call's signature and docstring, so that ``help(scalelab.fit)`` shows the
        call's arguments. Read when asked (the function may load heavy modules: the CLI parses without them)."""
        import inspect

        own = (self.__dict__.get("__doc__") or "").rstrip()
        func = getattr(self, self._function_name, None)
        if func is None or not func.__doc__:
            return own
        return (f"{own}\n\nCalled as a function: {self._function_name}{inspect.signature(func)}\n\n"
                f"{inspect.cleandoc(func.__doc__)}\n")

    @property
    def __signature__(self):
        """The function's signature, so that ``inspect.signature(scalelab.forecast)`` (and editors' hints) show
        ``(runs, at, laws='auto', ...)``, not the call's ``(*args, **kwargs)``."""
        import inspect

        return inspect.signature(getattr(self, self._function_name))


def make_callable(module_name: str) -> None:
    """Make the module ``module_name`` callable: ``module(...)`` is ``module.<last name part>(...)``."""
    sys.modules[module_name].__class__ = CallableModule


__all__ = ["CallableModule", "make_callable"]
