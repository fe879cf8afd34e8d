"""Put on PYTHONPATH by `modellock run` only: arms the modellock guard when $MODELLOCK_GUARD is set.

Nothing happens in a process that did not ask (no `.pth` file, no import-time magic): this directory
is on PYTHONPATH only under `modellock run`, and the guard is armed only with $MODELLOCK_GUARD set.
A `sitecustomize` the environment already had (a venv's, a distribution's) still runs: it is found
on the rest of `sys.path` and executed first.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def _hooks():  # type: ignore[no-untyped-def]
    try:
        from modellock.runtime import hooks
    except ImportError:  # a Python without modellock: the hooks are standard library only
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hooks.py")
        spec = importlib.util.spec_from_file_location("_modellock_guard_hooks", path)
        assert spec is not None and spec.loader is not None
        hooks = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = hooks  # dataclasses look their module up by name
        spec.loader.exec_module(hooks)
    return hooks


_chain()
if os.environ.get("MODELLOCK_GUARD"):
    try:
        _hooks().install_from_environment()  # type: ignore[no-untyped-call]
    except Exception as exc:
        # site.py reports an exception here and carries on unguarded: stop instead (fail closed).
        # (SystemExit here would print a traceback and exit 1: leave at once, with the usage code.)
        sys.stderr.write(f"error: modellock guard: cannot arm the guard from $MODELLOCK_GUARD: {exc}\n")
        sys.stderr.flush()
        os._exit(2)
