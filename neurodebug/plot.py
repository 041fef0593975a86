"""`neurodebug eval --plot FILE.png`: the reliability diagram of the frames' confidence.

One panel per mode (free-running, teacher-forced), and free-running's "on track" (the product
of a trace's confidences so far: ``confidence.on_track``) beside it: the accuracy of the frames in
each equal-width confidence bin against the diagonal a calibrated model would follow, with the
number of frames per bin written on its bar. matplotlib is an extra (``plot``): only this
module imports it.
"""

from __future__ import annotations

from neurodebug.errors import UserError


def reliability_diagram(calibration: dict[str, dict], path: str, title: str = "") -> None:
    """Draw ``evaluate.calibration``'s bins per mode into the image file ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # a file, never a window
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install 'neurodebug[plot]'.") from None
    panels = dict(calibration)
    on_track = calibration.get("free-running", {}).get("on_track")
    if on_track and on_track["frames"]:
        panels = {"free-running": calibration["free-running"], "free-running, on track": on_track,
                  **{k: v for k, v in calibration.items() if k != "free-running"}}
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), squeeze=False)
    for ax, (mode, c) in zip(axes[0], panels.items()):
        _panel(ax, mode, c)
    counts = ", ".join(f"{mode}: {c['frames']} frames" for mode, c in calibration.items())
    fig.suptitle(f"{title} ({counts})")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise UserError(f"Cannot write the plot to {path!r}: {e.strerror or e}.") from None
    finally:
        plt.close(fig)


def _panel(ax, mode: str, c: dict) -> None:
    bins = [b for b in c["bins"] if b["frames"]]
    width = c["bins"][0]["high"] - c["bins"][0]["low"] if c["bins"] else 0.1
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    bars = ax.bar([b["low"] for b in bins], [b["accuracy"] for b in bins], width=width, align="edge",
                  edgecolor="black", alpha=0.7)
    for bar, b in zip(bars, bins):
        ax.annotate(str(b["frames"]), (bar.get_x() + width / 2, bar.get_height()), ha="center", va="bottom", fontsize=7)
    auroc = "-" if c["auroc_state_wrong"] is None else f"{c['auroc_state_wrong']:.3f}"
    ece = "-" if c["ece"] is None else f"{c['ece']:.3f}"
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="confidence", ylabel="state right (fraction of frames)",
           title=f"{mode}: AUROC {auroc}, ECE {ece}")
