"""A real VS Code for the e2e tests: code-server in its own process group, driven by Playwright
through Debian's Chromium. `.ci/e2e_setup.sh` installs the pieces; `tools()` finds them.

code-server, its extension hosts, the language server and the debug adapter all live in one
process group (`setsid`), which `CodeServer.stop` ends as a whole: they outlive a closed browser.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "lsp" / "vscode"
CACHE = Path(os.environ.get("NEURODEBUG_E2E_CACHE", Path.home() / ".cache" / "neurodebug-e2e"))
CHROMIUM = Path("/usr/bin/chromium")
#: Where screenshots of failing tests go (gitignored).
ARTIFACTS = Path(os.environ.get("NEURODEBUG_E2E_ARTIFACTS", ROOT / "e2e-artifacts"))


@dataclass(frozen=True)
class Tools:
    code_server: Path
    vsce: Path
    npm: str


def tools() -> Tools | str:
    """The installed pieces, or one sentence naming what is missing (the tests then skip)."""
    code_server = CACHE / "code-server" / "node_modules" / ".bin" / "code-server"
    vsce = CACHE / "vsce" / "node_modules" / ".bin" / "vsce"
    npm = shutil.which("npm")
    missing = [name for name, ok in [("code-server", code_server.exists()), ("vsce", vsce.exists()),
                                      ("npm", npm is not None), ("/usr/bin/chromium", CHROMIUM.exists())] if not ok]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (Python)")
    if missing:
        return f"{', '.join(missing)} not installed; run .ci/e2e_setup.sh"
    return Tools(code_server, vsce, npm)


def package_extension(t: Tools, work: Path) -> Path:
    """lsp/vscode copied to ``work``, its dependencies installed, packaged by vsce: the .vsix."""
    src = work / "extension"
    shutil.copytree(EXTENSION, src, ignore=shutil.ignore_patterns("node_modules", "*.vsix"))
    _run([t.npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], cwd=src, timeout=300)
    vsix = work / "neurodebug.vsix"
    _run([str(t.vsce), "package", "--out", str(vsix)], cwd=src, timeout=300)
    return vsix


def _run(command: list[str], cwd: Path, timeout: float) -> None:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CodeServer:
    """code-server on 127.0.0.1 with its own user data and extensions, the extension installed."""

    def __init__(self, t: Tools, vsix: Path, home: Path, workspace: Path, python: str = sys.executable):
        self.t, self.home, self.workspace = t, home, workspace
        self.user_data, self.extensions = home / "user-data", home / "extensions"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._write_settings(python)
        self._cli(["--install-extension", str(vsix)], timeout=120)

    def _write_settings(self, python: str) -> None:
        user = self.user_data / "User"
        user.mkdir(parents=True, exist_ok=True)
        (user / "settings.json").write_text(json.dumps({
            "neurodebug.pythonPath": python,
            "workbench.startupEditor": "none",
            "workbench.tips.enabled": False,
            "chat.commandCenter.enabled": False,
            "extensions.ignoreRecommendations": True,
            "telemetry.telemetryLevel": "off",
            "editor.inlayHints.enabled": "on",
            "security.workspace.trust.enabled": False,
            "workbench.view.alwaysShowHeaderActions": True,  # the Watch pane's Add Expression button
        }, indent=1))

    def _base(self) -> list[str]:
        return [str(self.t.code_server), "--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions)]

    def _cli(self, args: list[str], timeout: float) -> None:
        _run(self._base() + args, cwd=self.home, timeout=timeout)

    def start(self, timeout: float = 60) -> None:
        log = open(self.home / "code-server.log", "w")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            self._base() + ["--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}", "--disable-telemetry",
                            "--disable-update-check", "--disable-workspace-trust", str(self.workspace)],
            cwd=self.home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"code-server exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"code-server did not answer /healthz in {timeout} s: {self.log_tail()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?folder={self.workspace}"

    def log_tail(self, chars: int = 3000) -> str:
        path = self.home / "code-server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def extension_host_logs(self) -> str:
        """The extension host's logs (activation errors land there, not in an Output channel)."""
        parts = []
        for path in sorted((self.user_data / "logs").rglob("*.log")):
            if "exthost" in str(path) or "neurodebug" in path.name.lower():
                parts.append(f"== {path.relative_to(self.user_data)}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """End code-server and everything it started (extension hosts, servers, adapters)."""
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
                time.sleep(0.5)  # children of the group may still be exiting
            except subprocess.TimeoutExpired:
                continue
        self.proc = None


class Workbench:
    """One browser page on code-server, with the few moves the tests make (selectors from VS Code's
    own smoke-test automation: .codelens-decoration, .statusbar-item, .debug-toolbar, ...)."""

    def __init__(self, page, server: CodeServer):
        self.page, self.server = page, server

    def open(self) -> None:
        self.page.goto(self.server.url)
        self.page.wait_for_selector(".monaco-workbench", timeout=60_000)
        self.page.wait_for_selector(".explorer-folders-view .monaco-list-row", timeout=60_000)

    def open_file(self, name: str) -> None:
        """Quick Open (Ctrl+P) the workspace file ``name``, then wait until it is the active editor.
        Enter waits for the file's row to be the focused one: before the typed filter applies, the
        focused row is the most recently opened file (in every picker here, the first row)."""
        self.page.keyboard.press("Control+p")
        self.page.keyboard.type(name)
        self.page.wait_for_selector(f".quick-input-list .monaco-list-row.focused:has-text('{name}')")
        self.page.keyboard.press("Enter")
        self.page.wait_for_selector(f".tab.active:has-text('{name}')")

    def close_editors(self) -> None:
        self.command("View: Close All Editors")
        self.page.wait_for_selector(".tab", state="detached")

    def command(self, title: str) -> None:
        """Run a command from the palette (F1) by its title."""
        self.page.keyboard.press("F1")
        self.page.keyboard.type(title)
        self.page.wait_for_selector(f".quick-input-list .monaco-list-row.focused:has-text('{title}')")
        self.page.keyboard.press("Enter")

    def lenses(self, timeout: float = 120_000) -> list[str]:
        """The code lens titles of the active editor, once the language server sent them."""
        self.page.wait_for_selector(".codelens-decoration a", timeout=timeout)
        return [a.inner_text().strip() for a in self.page.query_selector_all(".codelens-decoration a")]

    def click_lens(self, title: str) -> None:
        self.page.locator(".codelens-decoration a", has_text=title).first.click()

    def status(self, item_id: str) -> str:
        return self.page.locator(f".statusbar-item[id='{item_id}']").inner_text().strip()

    def wait_for_status(self, item_id: str, pattern: str, timeout: float = 240_000) -> str:
        """The status item's text once it matches the regular expression ``pattern``."""
        self.page.locator(f".statusbar-item[id='{item_id}']").filter(
            has_text=re.compile(pattern)).wait_for(timeout=timeout)
        return self.status(item_id)

    def inlay_hints(self) -> dict[int, str]:
        """1-based line -> the inlay hint text on it, read from the rendered lines of the active editor.
        Monaco renders a hint as injected text (spans with a generated `dyn-rule` class); a line's
        number is the gutter's at the same height (code lenses shift both)."""
        return {int(k): v for k, v in self.page.evaluate("""() => {
            const editor = document.querySelector('.editor-instance .monaco-editor');
            const numbers = {};
            for (const n of editor.querySelectorAll('.margin-view-overlays .line-numbers')) {
                numbers[parseFloat(n.parentElement.style.top)] = parseInt(n.textContent);
            }
            const out = {};
            for (const line of editor.querySelectorAll('.view-lines .view-line')) {
                const hint = [...line.querySelectorAll('span[class*="dyn-rule"]')].map(s => s.textContent)
                    .join('').replace(/\\u00a0/g, ' ').trim();
                if (hint) out[numbers[parseFloat(line.style.top)]] = hint;
            }
            return out;
        }""").items()}

    # -- the debugger ----------------------------------------------------------------------------

    def debug_actions(self, timeout: float = 240_000) -> list[str]:
        """The debug toolbar's buttons (their accessible names), once it is shown."""
        self.page.wait_for_selector(".debug-toolbar .action-label", timeout=timeout)
        return [a.get_attribute("aria-label") for a in self.page.query_selector_all(".debug-toolbar .action-label")]

    def stop_debugging(self) -> None:
        """End every debug session a test left (its adapter keeps a stopped session alive)."""
        for _ in range(5):
            if not self.page.locator(".debug-toolbar").is_visible():
                return
            self.debug_action("Stop")
            self.page.wait_for_timeout(1000)

    def debug_action(self, name: str) -> None:
        """Click the debug toolbar button whose accessible name starts with ``name`` ("Step Over", ...)."""
        self.page.locator(f".debug-toolbar .action-label[aria-label^='{name}']").click()

    def _rows(self, pane: str) -> list[str]:
        return [r.get_attribute("aria-label") for r in self.page.query_selector_all(f".{pane} .monaco-list-row")]

    def call_stack(self) -> list[str]:
        """The Call Stack pane's rows, top first, e.g. "Stack Frame f, line 7, helper_call.py"."""
        return self._rows("debug-call-stack")

    def variables(self) -> list[str]:
        """The Variables pane's rows: "Scope Predicted", "n, value 1", ..."""
        return self._rows("debug-variables")

    def expand_scope(self, name: str) -> None:
        row = self.page.locator(f".debug-variables .monaco-list-row[aria-label='Scope {name}']")
        if row.get_attribute("aria-expanded") != "true":
            row.click()

    def wait_until(self, read, accept, timeout: float = 120, what: str = "the UI"):
        """``read()`` once ``accept`` holds of it; AssertionError with the last value after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if accept(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not change as expected in {timeout} s; last: {value!r}")
            time.sleep(0.3)

    def stopped_line(self) -> int | None:
        """The 1-based line the editor marks as where the debuggee is stopped (the stack frame glyph)."""
        return self.page.evaluate("""() => {
            const editor = document.querySelector('.editor-instance .monaco-editor');
            const glyph = editor && editor.querySelector('.glyph-margin-widgets .codicon-debug-stackframe');
            if (!glyph) return null;
            for (const n of editor.querySelectorAll('.margin-view-overlays .line-numbers')) {
                if (parseFloat(n.parentElement.style.top) === parseFloat(glyph.style.top)) return parseInt(n.textContent);
            }
            return null;
        }""")

    def debug_console(self) -> list[str]:
        """The lines of the Debug Console (the adapter's output events)."""
        rows = self.page.query_selector_all(".repl .monaco-list-row")
        return [line.strip() for r in rows for line in r.get_attribute("aria-label").splitlines() if line.strip()]

    def hover(self, line: int, word: str, timeout: float = 120) -> str:
        """Rest the mouse on the first ``word`` of ``line`` (1-based) in the active editor; the text of
        the debug hover it opens (a value, or a container's value above its items). The gesture is
        made again while no hover shows (code lenses arriving late move the lines)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout  # installed by .ci/e2e_setup.sh

        widget = self.page.locator(".debug-hover-widget")
        deadline = time.monotonic() + timeout
        while True:
            x, y = self._word_center(line, word)
            # along the word's own line, from its left (an indentation, or the gutter): a path from
            # above crosses the lines over it, and a name there opens its own hover first
            self.page.mouse.move(max(x - 60, 1), y)
            self.page.mouse.move(x, y, steps=4)
            try:
                widget.wait_for(state="visible", timeout=10_000)
                break
            except PlaywrightTimeout:
                if time.monotonic() > deadline:
                    shown = self.page.locator(".monaco-hover").all_inner_texts()
                    raise AssertionError(f"no debug hover on {word!r} (line {line}) in {timeout} s; hovers: {shown}")
        text = self.wait_until(lambda: widget.inner_text().strip(), bool, 30, "the debug hover")
        self.page.mouse.move(900, 700)
        widget.wait_for(state="hidden", timeout=30_000)
        return text

    def _word_center(self, line: int, word: str) -> tuple[float, float]:
        """Where the first ``word`` of ``line`` is drawn, in page coordinates."""
        box = self.page.evaluate(r"""([line, word]) => {
            const editor = document.querySelector('.editor-instance .monaco-editor');
            let top = null;
            for (const n of editor.querySelectorAll('.margin-view-overlays .line-numbers')) {
                if (parseInt(n.textContent) === line) top = parseFloat(n.parentElement.style.top);
            }
            const view = [...editor.querySelectorAll('.view-lines .view-line')]
                .find(l => parseFloat(l.style.top) === top);
            if (!view) return null;
            const at = view.textContent.search(new RegExp('\\b' + word + '\\b'));
            if (at < 0) return null;
            const walker = document.createTreeWalker(view, NodeFilter.SHOW_TEXT);
            for (let offset = 0, node = walker.nextNode(); node; node = walker.nextNode()) {
                if (at < offset + node.length) {
                    const range = document.createRange();
                    range.setStart(node, at - offset);
                    range.setEnd(node, at - offset + word.length);
                    const r = range.getBoundingClientRect();
                    return {x: r.x + r.width / 2, y: r.y + r.height / 2};
                }
                offset += node.length;
            }
            return null;
        }""", [line, word])
        assert box is not None, f"{word!r} is not on line {line} of the editor"
        return box["x"], box["y"]

    def variable_menu(self, row: str, item: str) -> None:
        """Right-click the Variables pane's row ``row`` ("n, value 0") and choose ``item`` of its
        context menu ("Break on Value Change")."""
        self.page.locator(f".debug-variables .monaco-list-row[aria-label='{row}']").click(button="right")
        self.page.wait_for_selector(".context-view .monaco-menu .action-item", timeout=30_000)
        labels = [e.inner_text().strip() for e in self.page.query_selector_all(".context-view .monaco-menu .action-label")]
        assert item in labels, labels
        # VS Code runs a menu item on its mouse-up: down, then up, on the item itself
        target = self.page.locator(".context-view .monaco-menu .action-item", has_text=item).first
        target.hover()
        self.page.mouse.down()
        self.page.mouse.up()
        self.page.wait_for_selector(".context-view .monaco-menu", state="detached", timeout=30_000)

    def add_watch(self, expression: str) -> None:
        """Add ``expression`` to the Watch pane (its Add Expression button, then typed and Enter)."""
        self.page.locator(".action-label[aria-label='Add Expression']").click()
        box = self.page.locator(".debug-watch .monaco-inputbox input")
        box.wait_for(state="visible")
        self.page.keyboard.type(expression)
        self.page.keyboard.press("Enter")
        box.wait_for(state="hidden")  # VS Code keeps the input box in the pane, hidden

    def watch(self) -> list[str]:
        """The Watch pane's rows: "xs[0], value 3", ..."""
        return self._rows("debug-watch")

    def remove_watches(self) -> None:
        self.page.locator(".action-label[aria-label='Remove All Expressions']").click()
        self.page.wait_for_selector(".debug-watch .monaco-list-row", state="detached")

    def dialog(self) -> str | None:
        """The message of the modal dialog shown (VS Code shows a failed launch in one), or None."""
        box = self.page.query_selector(".monaco-dialog-box .dialog-message-container")
        return box.inner_text().strip() if box else None

    def start_debugging(self, configuration: str, timeout: float = 90) -> None:
        """Start the launch configuration named ``configuration`` (Debug: Select and Start Debugging).

        VS Code reads a launch.json written while it runs only once its file watcher reports it
        (seconds on a loaded machine), so the picker is opened again until the configuration is in it.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout  # installed by .ci/e2e_setup.sh

        row = f".quick-input-list .monaco-list-row.focused:has-text('{configuration}')"
        deadline = time.monotonic() + timeout
        while True:
            self.command("Debug: Select and Start Debugging")
            self.page.keyboard.type(configuration)
            try:
                self.page.wait_for_selector(row, timeout=5_000)
                break
            except PlaywrightTimeout:
                self.page.keyboard.press("Escape")
                if time.monotonic() > deadline:
                    raise AssertionError(f"the launch configuration {configuration!r} was not offered in {timeout} s")
        self.page.keyboard.press("Enter")

    def keep_screenshot(self, name: str) -> Path:
        """A screenshot of the window in ARTIFACTS (the README's picture of the debugger comes from here)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        self.page.mouse.move(900, 400)  # no button's tooltip in the picture
        self.page.keyboard.press("Escape")
        self.page.wait_for_selector(".monaco-hover, .workbench-hover", state="hidden")
        self.page.screenshot(path=str(shot))
        return shot

    def keep_evidence(self, name: str) -> Path:
        """A screenshot and the logs of a failing test, under ARTIFACTS."""
        shot = self.keep_screenshot(name)
        (ARTIFACTS / f"{name}.log").write_text(self.server.log_tail() + "\n" + self.server.extension_host_logs())
        return shot
