"""From the views' plain values to lsprotocol types (1-based lines become 0-based positions)."""

from __future__ import annotations

from lsprotocol import types
from neurodebug.lsp import views

from neurodebug.trace.source import Function

SEVERITY = {"information": types.DiagnosticSeverity.Information, "warning": types.DiagnosticSeverity.Warning}


def line_range(line: int, lines: list[str]) -> types.Range:
    """The text of 1-based ``line`` without its indentation (the whole line when it is blank)."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    start = len(text) - len(text.lstrip())
    return types.Range(start=types.Position(line=line - 1, character=start), end=types.Position(line=line - 1, character=len(text)))


def diagnostic(d: views.Diagnostic, lines: list[str]) -> types.Diagnostic:
    return types.Diagnostic(range=line_range(d.line, lines), message=d.message, severity=SEVERITY[d.severity], source="neurodebug")


def inlay_hint(h: views.Hint, lines: list[str]) -> types.InlayHint:
    end = len(lines[h.line - 1]) if 0 < h.line <= len(lines) else 0
    return types.InlayHint(position=types.Position(line=h.line - 1, character=end), label=h.label, padding_left=True, tooltip=h.tooltip)


#: The client-side command of the "Debug predicted execution" lens (VS Code: a `neurodebug` debug session).
DEBUG_COMMAND = "neurodebug.debug"


def code_lenses(uri: str, f: Function, debug: bool = False) -> list[types.CodeLens]:
    """"Predict" and "Compare" over a function's def line, carrying the call found in the source;
    with ``debug`` (VS Code's extension, which runs DEBUG_COMMAND) also "Debug predicted execution",
    its icon in VS Code's $(codicon) syntax."""
    where = types.Range(start=types.Position(line=f.line - 1, character=0), end=types.Position(line=f.line - 1, character=0))
    args = [uri, f.name, f.call]
    return [
        types.CodeLens(range=where, command=types.Command(
            title=f"▶ Predict {f.call or f.name + '(…)'}", command="neurodebug.predict", arguments=args)),
        types.CodeLens(range=where, command=types.Command(
            title="⇄ Compare with real run", command="neurodebug.compare", arguments=args)),
    ] + ([types.CodeLens(range=where, command=types.Command(
        title="$(debug-alt) Debug predicted execution", command=DEBUG_COMMAND, arguments=args))] if debug else [])
