"""``%neurodebug`` and ``%%neurodebug``: the magics (IPython).

``w = %neurodebug [OPTIONS] CALL`` debugs a call of a function defined in an earlier cell or
imported from a file; ``%%neurodebug [OPTIONS] [CALL]`` the code of its own cell, which does not
run in the kernel. The options are the session options as the CLI spells them (``%neurodebug
--help`` lists them). Both display the view and return a :class:`~neurodebug.notebook.widget.Debugger`
(None when there is nothing to debug). Bad input is one sentence in the cell's output, never a
traceback.
"""

from __future__ import annotations

from IPython.core.magic import Magics, line_cell_magic, magics_class

from neurodebug.errors import UserError
from neurodebug.notebook import args as magic_args
from neurodebug.notebook import cells
from neurodebug.notebook.widget import Debugger, unexpected

#: The predictor the last session loaded, by its options' predictor_key(): a second ``%neurodebug``
#: with the same model does not load it again.
_predictor: tuple[tuple, object] | None = None


def cached_predictor(options):
    if _predictor is not None and _predictor[0] == options.predictor_key():
        return _predictor[1]
    return None


def _keep_predictor(options, predictor) -> None:
    global _predictor
    if predictor is not None:
        _predictor = (options.predictor_key(), predictor)


def _history(shell) -> list[str]:
    manager = getattr(shell, "history_manager", None)
    return list(getattr(manager, "input_hist_parsed", None) or [])


def debugger_for(shell, line: str, cell: str | None = None) -> Debugger | None:
    """What the magics do (also callable without IPython's magic machinery, e.g. from tests):
    parse ``line``, find the target in ``shell``'s namespace (or ``cell``), display the view,
    start the session; the Debugger, or None after printing why there is nothing to debug."""
    from neurodebug.session import Session

    try:
        options, call = magic_args.parse(line, cell is not None)
        if options is None:  # --help
            print(call)
            return None
        namespace = shell.user_ns
        if cell is not None:
            target = cells.from_cell(cell, call, namespace)
        else:
            target = cells.from_call(call, namespace, _history(shell), frozenset(getattr(shell, "user_ns_hidden", {})))
        options.check_isolation()
        session = Session(target.source, target.entry, target.call, options, predictor=cached_predictor(options),
                          path=target.path)
    except UserError as e:
        print(str(e))
        return None
    except Exception as e:  # noqa: BLE001 - one sentence, never a traceback
        print(unexpected(e))
        return None
    debugger = Debugger(session, origin=target.origin, shell=shell)
    handle = debugger.show()
    debugger._as("magic", debugger.start)
    _keep_predictor(options, session.predictor)
    if debugger.outcome == "error":  # nothing to show: the sentence takes the widget's place
        handle.update({"text/plain": debugger.message}, raw=True)
        debugger.widget.close()
        return None
    if debugger.message:
        print(debugger.message)
    return debugger


@magics_class
class NeurodebugMagics(Magics):
    @line_cell_magic
    def neurodebug(self, line: str, cell: str | None = None):
        """%neurodebug [OPTIONS] CALL  /  %%neurodebug [OPTIONS] [CALL]: debug a call (--help: the options)."""
        return debugger_for(self.shell, line, cell)


def register(ipython) -> None:
    ipython.register_magics(NeurodebugMagics)


def unregister(ipython) -> None:
    magics = ipython.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("neurodebug", None)
