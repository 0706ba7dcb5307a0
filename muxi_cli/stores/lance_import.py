"""The one door through which muxi imports LanceDB (``lancedb()``).

``import lancedb`` costs about 0.85 s, 0.4-0.6 s of it in the package
``lance_namespace_urllib3_client``: a generated REST client for Lance namespace
servers whose ``__init__`` imports every API class (hundreds of pydantic
``validate_call`` functions). ``lancedb/db.py`` imports it eagerly through
``lance_namespace``, which only needs its ``models`` subpackage; muxi opens local
folders and object-store URIs and never talks to a namespace server.

So before the first ``import lancedb``, and only if the package is installed and
not imported yet, :func:`lancedb` puts a stand-in for the *package* in
``sys.modules``: a module that carries the real ``__spec__``, ``__path__`` and
``__file__`` (so ``import lance_namespace_urllib3_client.models`` still loads the
real subpackage) but has not run the package's ``__init__``. The first access to
any other attribute runs the real ``__init__`` in that same module object, which
then is the real module in every respect. Nothing of LanceDB is patched.

The namespace models that are still imported (``lance_namespace`` re-exports
~130 of them), and LanceDB's own pydantic classes (embedding functions, remote
client settings), are pydantic models whose validators muxi never uses: while
``lancedb`` imports, pydantic's default ``defer_build`` is set to True, so each
class builds its validator on first use instead of at import (saves ~55 ms).
That default lives in pydantic's private ``_internal._config.config_defaults``;
when it is not there, nothing is changed.

On Python < 3.12 LanceDB marks its ~100 overriding methods with the
``overrides`` package's ``@override``, which finds each method's base classes by
disassembling the whole defining module's bytecode and then compares signatures:
~90 ms of the import (most of ``lancedb.remote.db`` and ``lancedb.namespace``).
Those are checks of LanceDB's own code, the same on every run of a released
version (an import without them, in the test, proves they pass). While
``lancedb`` imports, :func:`override_checks_skipped` gives it a marker that only
sets ``__override__``, as ``typing.override`` does on 3.12 (and as
``EnforceOverrides`` still checks); a method without a docstring then does not
borrow its base's (what ``help()`` shows, nothing muxi reads).

``tests/stores/test_lance_import.py`` fails when a LanceDB upgrade breaks this
(the stand-in not used, or connect/create/search/merge failing under it, or the
override checks failing on a plain import), or a pydantic upgrade moves that
default.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

#: The REST client package that ``lancedb`` imports and muxi never uses.
NAMESPACE_CLIENT = "lance_namespace_urllib3_client"

_lock = threading.RLock()


class _DeferredPackage(types.ModuleType):
    """A package whose ``__init__`` runs on the first access to a name it would define."""

    def __getattr__(self, name: str) -> Any:
        # Only called for names not in the module's dict: the real package's contents.
        with _lock:
            if type(self) is _DeferredPackage:
                spec = self.__spec__
                assert spec is not None and spec.loader is not None
                self.__class__ = types.ModuleType  # type: ignore[assignment]  # an ordinary module now
                try:
                    spec.loader.exec_module(self)
                except BaseException:
                    sys.modules.pop(self.__name__, None)
                    raise
        return getattr(self, name)  # an ordinary module now: a missing name raises


def defer_namespace_client() -> bool:
    """Put the deferred stand-in in place; False when it cannot be or need not be."""
    with _lock:
        if NAMESPACE_CLIENT in sys.modules:
            return isinstance(sys.modules[NAMESPACE_CLIENT], _DeferredPackage)
        try:
            spec = importlib.util.find_spec(NAMESPACE_CLIENT)
        except (ImportError, ValueError):
            return False
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return False
        module = _DeferredPackage(NAMESPACE_CLIENT)
        module.__spec__ = spec
        module.__loader__ = spec.loader
        module.__file__ = spec.origin
        module.__path__ = list(spec.submodule_search_locations)
        module.__package__ = NAMESPACE_CLIENT
        sys.modules[NAMESPACE_CLIENT] = module
        return True


_deferring = 0


@contextlib.contextmanager
def pydantic_builds_deferred() -> Iterator[bool]:
    """Within: pydantic classes defined anywhere build their validators on first
    use (yields False when pydantic's default could not be found)."""
    global _deferring
    try:
        from pydantic._internal import _config  # deferred: only while LanceDB imports
    except ImportError:
        yield False
        return
    defaults = getattr(_config, "config_defaults", None)
    if not isinstance(defaults, dict) or defaults.get("defer_build") is not False:
        yield False
        return
    with _lock:
        _deferring += 1
        defaults["defer_build"] = True
    try:
        yield True
    finally:
        with _lock:
            _deferring -= 1
            if not _deferring:
                defaults["defer_build"] = False


_skipping = 0
_real_override: Any = None


def _mark_override(method: Any = None, **_checks: Any) -> Any:
    """``@override`` without its checks: marks the method, as ``typing.override`` does."""
    if method is None:
        return _mark_override
    with contextlib.suppress(AttributeError, TypeError):
        method.__override__ = True
    return method


@contextlib.contextmanager
def override_checks_skipped() -> Iterator[bool]:
    """Within: ``from overrides import override`` gets :func:`_mark_override` (yields
    False, changing nothing, when ``overrides`` is not installed or not as expected)."""
    try:
        import overrides  # deferred: only while LanceDB imports
    except ImportError:
        yield False
        return
    global _skipping, _real_override
    with _lock:
        if not _skipping:
            real = getattr(overrides, "override", None)
            if not callable(real) or getattr(real, "__module__", "") != "overrides.overrides":
                real = None
            _real_override = real
        if _real_override is None:
            skipped = False
        else:
            skipped = True
            _skipping += 1
            overrides.override = _mark_override
    try:
        yield skipped
    finally:
        if skipped:
            with _lock:
                _skipping -= 1
                if not _skipping:
                    overrides.override = _real_override


def namespace_client_deferred() -> bool:
    """Whether the REST client's ``__init__`` has not run (it was never needed)."""
    return isinstance(sys.modules.get(NAMESPACE_CLIENT), _DeferredPackage)


def lancedb() -> Any:
    """The ``lancedb`` module, imported without its namespace REST client."""
    module = sys.modules.get("lancedb")
    if module is not None:
        return module
    os.environ.setdefault("LANCEDB_LOG", "error")  # Rust-side warnings would reach the terminal
    defer_namespace_client()
    with pydantic_builds_deferred(), override_checks_skipped():
        import lancedb as module  # deferred: LanceDB is slow to import (see the module docstring)

    return module
