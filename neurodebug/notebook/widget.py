"""The notebook's view of a session (ipywidgets), and the object ``%neurodebug`` returns.

:class:`Debugger` holds a :class:`neurodebug.session.Session` and its widget: the source with the
predicted (▶) and the real (●) line marked, the locals side by side with changed values
highlighted, the buttons step, next, out, back, continue and reset, a slider over the frames,
the first divergence in one sentence with a button that goes to it, and the speed. Code drives the
same object (``w.step()``, ``w.back()``, ``w.session``), and every move redraws every view of it.

The session's work (loading the model, the real run, predicting) runs in a worker thread while
the kernel's thread shows its progress; the kernel's interrupt (KeyboardInterrupt, in that thread)
calls ``session.cancel()``, waits for the worker to stop, and leaves the session at a frame.
"""

from __future__ import annotations

import threading
import time

import ipywidgets as W
from IPython.display import display

from neurodebug.errors import UserError
from neurodebug.notebook import render
from neurodebug.session import Cancelled, Session
from neurodebug.trace.context import call_text

#: The buttons, in order: (label, the Debugger's method, tooltip).
BUTTONS = (
    ("step", "step", "one frame forward, into calls"),
    ("next", "next", "one frame forward in this function: a call is stepped over"),
    ("out", "out", "forward to the return of this function"),
    ("back", "back", "one frame back (nothing is recomputed)"),
    ("continue", "cont", "forward to the end of the prediction"),
    ("reset", "reset", "drop the prediction after the call frame and sample again"),
)
#: How often the kernel's thread redraws the progress of a running prediction, in seconds.
PROGRESS_EVERY = 0.25


class Interrupted(Exception):
    """The kernel's interrupt stopped the work; the session was cancelled and is consistent."""


def unexpected(e: BaseException) -> str:
    """An error that is not the user's, as one sentence naming its type."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"neurodebug stopped on an unexpected {type(e).__name__}" + (f": {text.rstrip('.')}." if text else ".")


class Debugger:
    """A session and its widget. ``%neurodebug`` makes one; ``Debugger(session)`` makes one from code
    (a session that is not started starts on the first move, or with :meth:`start`)."""

    def __init__(self, session: Session, *, origin: str = "the notebook", shell=None):
        self.session = session
        self.origin = origin
        self._shell = shell
        self._shown_in: int | None = None  # the execution count of the cell that displayed the widget
        self._high = -1  # the furthest frame reached since the last reset: the slider's end
        self._redrawing = False
        self.message = ""  # the last sentence the status line showed (an error, a cancel)
        self._build()
        self.redraw()

    # -- the widget ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self._header = W.HTML()
        self._source = W.HTML(layout=W.Layout(flex="3 1 0%", min_width="320px", overflow="auto"))
        self._locals = W.HTML(layout=W.Layout(flex="2 1 0%", min_width="220px", overflow="auto"))
        self.buttons: dict[str, W.Button] = {}
        for label, method, tip in BUTTONS:
            b = W.Button(description=label, tooltip=tip, layout=W.Layout(width="auto"))
            b.add_class(f"nd-{label}")
            b.on_click(lambda _b, m=method: self._clicked(m))
            self.buttons[label] = b
        # steps count from 1, as the header's "step 3 of 12" does: the slider's value is the frame's index + 1
        self.slider = W.IntSlider(value=1, min=1, max=1, description="step", continuous_update=False,
                                  layout=W.Layout(width="100%"))
        self.slider.observe(self._slid, names="value")
        self._divergence = W.HTML(layout=W.Layout(flex="1 1 auto"))
        self.jump = W.Button(description="go to divergence", tooltip="go to the first divergence from the real run",
                             layout=W.Layout(width="auto"))
        self.jump.add_class("nd-divergence")
        self.jump.on_click(lambda _b: self._clicked("to_divergence"))
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="160px", display="none"))
        self._status = W.HTML()
        self.widget = W.VBox([
            self._header,
            W.HBox([self._source, self._locals], layout=W.Layout(width="100%", align_items="flex-start")),
            W.HBox(list(self.buttons.values())),
            self.slider,
            W.HBox([self._divergence, self.jump], layout=W.Layout(align_items="center")),
            W.HBox([self.progress, self._status], layout=W.Layout(align_items="center")),
        ])
        self.widget.add_class("neurodebug")

    def redraw(self) -> None:
        """Show the session as it is now (every displayed view of this object updates)."""
        s = self.session
        view = s.view()
        run_real = s.options.run_real
        self._high = max(self._high, view.index)
        self._header.value = render.header_html(view, run_real)
        self._source.value = render.source_html(view.source, *render.lines_marked(view))
        self._locals.value = render.locals_html(render.local_rows(view), view.real is not None, view.unsure_below)
        self._divergence.value = html_text(render.divergence_sentence(view), "nd-divergence-text")
        self.jump.disabled = not s.started or view.real is None or (
            view.divergence is None and view.ended) or render.divergence_frame(view) == view.index
        self._redrawing = True
        try:
            end = self._high if view.ended and view.index >= self._high else max(
                self._high, view.index + (0 if view.ended else 1), len(view.real_frames) - 1)
            end = max(0, min(end, s.options.max_frames - 1))
            self.slider.max = end + 1
            self.slider.value = max(view.index, 0) + 1
        finally:
            self._redrawing = False
        floor = 0 if view.frames and view.frames[0].event == "call" else -1
        for label, b in self.buttons.items():
            b.disabled = not s.started and label not in ("step", "next", "continue")
            if label in ("step", "next", "out", "continue"):
                b.disabled = b.disabled or view.ended
            elif label == "back":
                b.disabled = view.index <= floor and not view.ended
        self.slider.disabled = not s.started
        speed = render.speed_text(view)
        status = [self.message] if self.message else []
        status += [speed] if speed else []
        self._status.value = html_text(" · ".join(status), "nd-status", error=bool(self.message))

    def show(self):
        """Display the widget in the running cell; returns the display's handle."""
        handle = display(self.widget, display_id=True)
        self._shown_in = self._execution_count()
        return handle

    def _execution_count(self) -> int | None:
        return getattr(self._shell, "execution_count", None)

    def _ipython_display_(self) -> None:
        """As a cell's value: the widget, unless this cell displayed it already (``%neurodebug f(3)``
        alone in a cell shows one view, not two)."""
        if self._shown_in is not None and self._shown_in == self._execution_count():
            return
        self.show()

    def __repr__(self) -> str:
        s = self.session
        call = call_text(s.entry, s.call, "...")
        return f"<neurodebug {call}: step {s.index + 1} of {len(s.frames)}{'' if s.ended else '+'}>"

    # -- moves, from code and from the buttons -----------------------------------------------------
    @property
    def view(self):
        """The session's view now (neurodebug.view.SessionView)."""
        return self.session.view()

    def start(self):
        """Load the model, run the call for real (unless --no-run) and write the call frame."""
        return self._do(lambda: self.session.start(), "starting")

    def step(self):
        """One frame forward, into calls; returns the current frame."""
        return self._do(self.session.step, "predicting")

    def next(self):
        """One frame forward in this function (a call is stepped over)."""
        return self._do(self.session.next, "predicting")

    def out(self):
        """Forward to the return of this function."""
        return self._do(self.session.out, "predicting")

    def back(self):
        """One frame back (the KV cache is cut back; nothing is recomputed)."""
        return self._do(self.session.back, "going back")

    def back_to(self, i: int):
        """Back to frame ``i`` (frames count from 0)."""
        return self._do(lambda: self.session.back_to(i), "going back")

    def cont(self, max_frames: int | None = None):
        """Forward to the end of the prediction (or ``max_frames`` more frames)."""
        target = self.session.options.max_frames if max_frames is None else len(self.session.frames) + max_frames
        return self._do(lambda: self.session.cont(max_frames), "predicting", target=target)

    def run_to(self, line: int):
        """Forward to the next frame at ``line``."""
        return self._do(lambda: self.session.run_to(line), "predicting")

    def go_to(self, i: int):
        """To frame ``i``: back to it, or forward frame by frame until it (what the slider does)."""
        s = self.session
        if i <= s.index:
            return self.back_to(i)
        return self._do(lambda: s.cont(i - s.index), "predicting", target=i + 1)

    def set_local(self, name: str, value: str):
        """Give ``name`` the value ``value`` (a Python expression) in the current frame; what follows is
        predicted again."""
        self._high = -1
        return self._do(lambda: self.session.set_local(name, value), "editing")

    def reset(self, seed: int | None = None):
        """Drop the prediction after the call frame and sample again."""
        self._high = -1
        return self._do(lambda: self.session.reset(seed), "sampling again")

    def to_divergence(self):
        """To the first divergence from the real run: back to it when the frames so far have one, else
        forward until one shows (or the prediction ends)."""
        s = self.session

        def run():
            view = s.view()
            i = render.divergence_frame(view)
            if i is None and view.real is not None:
                while not s.ended and s.view().divergence is None:
                    before = s.index
                    s.step()
                    if s.index == before and not s.ended:
                        break  # cancelled
                view = s.view()
                i = render.divergence_frame(view)
            if i is not None and i < s.index:
                s.back_to(i)

        return self._do(run, "looking for the divergence", target=s.options.max_frames)

    #: Who made the move: "code" (a sentence is printed, an interrupt raised again), "magic" (printed,
    #: not raised) or "button" (the status line alone says it: a callback's output is not the cell's).
    _mode = "code"

    def _as(self, mode: str, fn, *args):
        self._mode = mode
        try:
            return fn(*args)
        finally:
            self._mode = "code"

    def _clicked(self, method: str) -> None:
        self._as("button", getattr(self, method))

    def _slid(self, change) -> None:
        if self._redrawing or change["new"] - 1 == max(self.session.index, 0):
            return
        self._as("button", self.go_to, change["new"] - 1)

    # -- running the work ---------------------------------------------------------------------------
    def _do(self, fn, what: str, target: int | None = None):
        """Run a move (the session started first when it is not), show how it went, redraw; returns
        the current frame. A UserError is one sentence in the status line (printed too when code
        made the move); the kernel's interrupt cancels the move, and from code it then stops the
        cell (KeyboardInterrupt). :attr:`outcome` says how it went: ok, error, cancelled, interrupted."""
        self.message = ""
        self.outcome = "ok"
        try:
            if not self.session.started and what != "starting":
                self._work(lambda: self.session.start(), "starting")
            self._work(fn, what, target)
        except UserError as e:
            self._say(str(e), "error")
        except Cancelled:
            self._say("Cancelled before the session started: a move starts it again.", "cancelled")
        except Interrupted:
            self._say(f"Interrupted: the session stays at step {self.session.index + 1}." if self.session.started
                      else "Interrupted before the session started: a move starts it again.", "interrupted")
            if self._mode == "code":  # stop the cell, as an interrupt does
                self.progress.layout.display = "none"
                self.redraw()
                raise KeyboardInterrupt(self.message) from None
        except Exception as e:  # noqa: BLE001 - a front end says it in one sentence
            self._say(unexpected(e), "error")
        finally:
            self.progress.layout.display = "none"
            self.redraw()
        return self.session.current

    outcome = "ok"

    def _say(self, sentence: str, outcome: str) -> None:
        self.message, self.outcome = sentence, outcome
        if self._mode == "code":
            print(sentence)

    def _work(self, fn, what: str, target: int | None = None) -> None:
        """Run ``fn`` in a worker thread; meanwhile show its progress. KeyboardInterrupt here (the
        kernel's interrupt) cancels the session and waits for the worker: :class:`Interrupted`."""
        s = self.session
        done: dict = {}

        def work():
            try:
                done["value"] = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the kernel's thread
                done["error"] = e

        worker = threading.Thread(target=work, name=f"neurodebug-{what}", daemon=True)
        t0 = time.monotonic()
        first = len(s.frames)
        for b in (*self.buttons.values(), self.jump):
            b.disabled = True
        worker.start()
        interrupted = False
        shown = False
        while worker.is_alive():
            try:
                worker.join(PROGRESS_EVERY)
                if worker.is_alive():
                    self._progress(what, t0, first, target, shown)
                    shown = True
            except KeyboardInterrupt:
                interrupted = True
                s.cancel()
        if interrupted:
            raise Interrupted()
        if "error" in done:
            raise done["error"]

    def _progress(self, what: str, t0: float, first: int, target: int | None, shown: bool) -> None:
        s = self.session
        n = len(s.frames)
        if target is not None and target > first:
            self.progress.max = max(target - first, 1)
            self.progress.value = min(max(n - first, 0), self.progress.max)
            self.progress.bar_style = "info"
        else:
            self.progress.max, self.progress.value = 1, 0
        if not shown:
            self.progress.layout.display = ""
        fps = s.speed.frames_per_s
        speed = f", {fps:.1f} frames/s" if fps else ""
        self._status.value = html_text(f"{what}… {time.monotonic() - t0:.0f} s, {n} frames{speed} "
                                       "(interrupt the kernel to stop)", "nd-status")


def html_text(text: str, cls: str, error: bool = False) -> str:
    import html

    style = ' style="color: #d03030"' if error else ""
    return f'<span class="{cls}"{style}>{html.escape(text)}</span>'
