"""The Variables, Watch and hover panes: scopes of a stack frame, their variables, and evaluate.

Everything is read from a :class:`~neurodebug.view.SessionView`. A variablesReference names a
place, not a value (see :class:`~neurodebug.dap.variables.References`): ``(scope, frame)`` for a
scope, ``(scope, frame, name, *keys)`` for a local and the items inside it, where scope is
"predicted", "real", "value" (a return or exception value) or "eval" (an evaluated expression).
"""

from __future__ import annotations

from typing import Any

import dap_types as dap

from neurodebug.dap.variables import (
    MISSING,
    References,
    child,
    child_evaluate_name,
    children,
    evaluate,
    expandable,
    literal,
    type_name,
)
from neurodebug.real.objects import Instance
from neurodebug.view import SessionView, sure_text
from neurodebug.errors import UserError


class Panes:
    """Answers scopes, variables and evaluate for one debug session (its references live here)."""

    def __init__(self):
        self.refs = References()

    def scopes(self, stop: SessionView, i: int) -> list[dap.Scope]:
        f = stop.frames[i]
        scopes = [dap.Scope(name="Predicted", presentationHint="locals", variablesReference=self.refs.ref(("predicted", i)),
                            namedVariables=len(f.locals), expensive=False),
                  dap.Scope(name="Real run", variablesReference=self.refs.ref(("real", i)), expensive=False)]
        if f.event in ("return", "exception"):
            name = "Return value" if f.event == "return" else "Exception"
            scopes.insert(0, dap.Scope(name=name, variablesReference=self.refs.ref(("value", i)), expensive=False))
        return scopes

    def variables(self, stop: SessionView, ref: int, kind: str | None = None) -> list[dap.Variable]:
        """The variables of a scope or the items of a value; ``kind`` ("named" or "indexed", the
        request's filter) keeps one kind: a scope's locals and a dict's keys are named, the items
        of a list, tuple or set indexed."""
        key = self.refs.key(ref)
        if key is None:
            raise UserError(f"There is no variables reference {ref}.")
        if len(key) == 2:
            return [] if kind == "indexed" else self._scope(stop, *key)
        value = self._value(stop, key)
        if kind is not None and kind != ("named" if isinstance(value, dict) else "indexed"):
            return []
        parent = _evaluate_name(key)
        return [self._variable(key + (k,), name, v, child_evaluate_name(parent, value, k))
                for name, k, v in children(value)]

    def evaluate(self, stop: SessionView, i: int, expression: str) -> dap.EvaluateResponseBody:
        expression = expression.strip()
        shown, value = evaluate(expression, stop.frames[i].locals)
        ref = self.refs.ref(("eval", i, expression)) if expandable(value) else 0
        return dap.EvaluateResponseBody(result=shown, type=type_name(shown), variablesReference=ref)

    def settable(self, stop: SessionView, ref: int) -> None:
        """Raise UserError unless ``ref`` is the current frame's predicted locals (setVariable's scope)."""
        key = self.refs.key(ref)
        if key is None or key[0] != "predicted":
            raise UserError("Only a local of the predicted frame can be set; the real run's values are what ran.")
        if len(key) != 2:
            raise UserError("An item cannot be set on its own; set the whole local to a new value.")
        if key[1] != stop.index:
            raise UserError("Only the current frame's locals can be set; a caller's frame is in the past.")

    def local(self, stop: SessionView, name: str) -> dap.SetVariableResponseBody:
        """setVariable's answer: the current frame's local ``name`` as the session now has it."""
        text = stop.frames[stop.index].locals.get(name, "")
        parsed = literal(text)
        ref = self.refs.ref(("predicted", stop.index, name)) if expandable(parsed) else 0
        return dap.SetVariableResponseBody(value=text, type=type_name(text), variablesReference=ref)

    # -- reading a place ------------------------------------------------------------------------------

    def _scope(self, stop: SessionView, scope: str, i: int) -> list[dap.Variable]:
        if not 0 <= i < len(stop.frames):
            return []
        if scope == "real" and stop.real_frame(i) is None:
            return [dap.Variable(name="note", value=_no_real_frame(stop), variablesReference=0)]
        sure = (stop.frames[i].locals_confidence or {}) if scope == "predicted" else {}
        return [_with_confidence(self._variable((scope, i, name), name, text, name if scope == "predicted" else None),
                                 sure.get(name))
                for name, text in _roots(stop, scope, i).items()]

    def _value(self, stop: SessionView, key: tuple) -> Any:
        """The Python value a child key names (a literal inside a local's repr)."""
        scope, i, root, *path = key
        if not 0 <= i < len(stop.frames):
            raise UserError("That variable belongs to a frame that is no longer predicted.")
        if scope == "eval":
            value = evaluate(root, stop.frames[i].locals)[1]
        else:
            value = literal(_roots(stop, scope, i).get(root))
        try:
            for k in path:
                value = child(value, k)
        except (KeyError, IndexError, TypeError):
            value = MISSING
        if value is MISSING:
            raise UserError("That variable is no longer there at this stop.")
        return value

    def _variable(self, key: tuple, name: str, value: Any, evaluate_name: str | None) -> dap.Variable:
        """A variable from a repr string (a local: key of 3) or a Python value (an item inside one)."""
        root = len(key) == 3
        text = value if root else repr(value)
        parsed = literal(text) if root else value
        ref = self.refs.ref(key) if expandable(parsed) else 0
        kind = None if parsed is MISSING else parsed.name if isinstance(parsed, Instance) else type(parsed).__name__
        return dap.Variable(name=name, value=text, type=kind, evaluateName=evaluate_name, variablesReference=ref,
                            indexedVariables=len(parsed) if ref and not isinstance(parsed, dict) else None,
                            namedVariables=len(parsed) if ref and isinstance(parsed, dict) else None)


def _with_confidence(variable: dap.Variable, confidence: float | None) -> dap.Variable:
    """A predicted value with how sure the model was of it, after its type ("int · 62% sure"):
    VS Code shows the type beside the value and in its tooltip, and the value stays the value."""
    if confidence is None:
        return variable
    kind = f"{variable.type} · {sure_text(confidence)}" if variable.type else sure_text(confidence)
    return variable.model_copy(update={"type": kind})


def _roots(stop: SessionView, scope: str, i: int) -> dict[str, str]:
    """name -> repr of a scope's variables at frame i."""
    f, r = stop.frames[i], stop.real_frame(i)
    if scope == "predicted":
        return dict(f.locals)
    if scope == "real":
        return dict(r.locals) if r is not None else {}
    values = {"predicted": f.arg, "real": r.arg if r is not None and r.event == f.event else None}
    return {k: v for k, v in values.items() if v is not None}


def _no_real_frame(stop: SessionView) -> str:
    if stop.real is None:
        return stop.real_note or "There is no real run."
    return "The real run has no frame at this step (it ended, or the steps do not line up here)."


def _evaluate_name(key: tuple) -> str | None:
    """What evaluate takes for the place ``key`` names (None in the real run: evaluate reads predictions)."""
    scope, _, root, *path = key
    if scope not in ("predicted", "eval"):
        return None
    name = root
    for k in path:
        name = f"{name}[{k!r}]"
    return name
