"""``ecgspec plot``: one window of an output as a PNG, to look at what was extracted.

A log-power spectrogram per lead (time from ``/frames/time``, frequency from
``/frequencies``), the frames shaped by the reflect padding shaded, the window's quality
flags in the title, and above them the window's waveform when the source record can still be
read (from ``/records/source``, cut and resampled by :mod:`ecgspec.signal.windowing` as the run did).
matplotlib is the optional extra ``ecgspec[plot]``, drawn headless (Agg); no torch here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import PlotError, one_line
from .signal.leads import match_leads
from .signal.quality import FLAGS
from .store.layout import OutputError
from .store.reader import SpectrogramFile
from .store.reader import open as open_output

__all__ = ["plot_window", "PlotError"]

EDGE_SHADE = dict(facecolor=(0.6, 0.6, 0.6, 0.55), edgecolor="white", hatch="///", linewidth=0)
DYNAMIC_RANGE_DB = 80.0  # the colour scale spans this far below the window's loudest cell


@dataclass
class Window:
    """What one picture shows: the window's spectrogram per lead and what is known about it."""

    record: str
    index: int  # among the record's windows
    start: int  # first sample at the config fs
    fs: float
    leads: list[str]  # the ones drawn
    spectrogram: np.ndarray  # (len(leads), n_bins, n_frames) power
    qc: int
    waveform: np.ndarray | None  # (len(leads), n_samples), or None when the source cannot be read
    why_no_waveform: str
    flat_leads: str  # the record's, from /records/flat_leads


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotError("plot needs matplotlib: pip install ecgspec[plot]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _record_row(file: SpectrogramFile, name: str) -> int:
    names = list(file.records["name"])
    if name not in names:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise PlotError(f"{file.path} has no record {name!r} (it has {len(names)}: {shown})")
    return names.index(name)


def _pick_leads(stored: list[str], wanted: Sequence[str] | None) -> list[int]:
    """Indices into the stored leads of the ``wanted`` ones (case- and space-insensitive), or all."""
    if not wanted:
        return list(range(len(stored)))
    picked = match_leads(stored, wanted)
    if None in picked:
        raise PlotError(f"--leads: {wanted[picked.index(None)]!r} is not among the record's leads {','.join(stored)}")
    return picked  # type: ignore[return-value]


def _waveform(file: SpectrogramFile, row: int, start: int, leads: list[int]) -> tuple[np.ndarray | None, str]:
    """The window's samples of the stored ``leads`` read again from the source (a signals file: from /signals,
    as prepared), or (None, why not)."""
    from .readers import RecordRef, kind_of, open_record
    from .signal.windowing import read_window

    if "signal_offset" in file.records:  # extract --store signals: the file holds them
        first = int(file.records["signal_offset"][row]) + start
        return np.asarray(file._h5()["signals"][first : first + int(file.config["n_samples"])].T[leads]), ""
    source = Path(file.records["source"][row])
    config = file.config
    kind = kind_of(source)
    if kind is None or not source.exists():
        return None, f"source {source} is not there"
    try:
        record = open_record(RecordRef(file.records["name"][row], source, kind),
                             input_fs=config.get("input_fs") or config["fs"], stated_fs=config.get("input_fs"))
        stored = str(file.records["leads"][row]).split(",")
        header = record.header
        names = list(header.leads)
        channels = [names.index(stored[i]) if names else int(stored[i]) for i in leads]
        return read_window(record, channels, config["fs"], config["n_samples"], start), ""
    except Exception as exc:  # noqa: BLE001 - the picture is drawn without it, saying why
        return None, f"source {source.name} cannot be read: {one_line(exc)}"


def load_window(path: str | os.PathLike[str], record: str, index: int = 0,
                leads: Sequence[str] | None = None) -> Window:
    """Window ``index`` of ``record`` in the output at ``path``, with the leads asked for."""
    with SpectrogramFile(path, allow_partial=True) as file:
        file = open_output(path, allow_partial=True) if file.config.get("store") == "signals" else file
        row = _record_row(file, record)
        mine = np.flatnonzero(file.windows["record"] == row)
        if not 0 <= index < len(mine):
            raise PlotError(f"record {record!r} has {len(mine)} windows; --window must be in 0..{len(mine) - 1}"
                            if len(mine) else f"record {record!r} has no windows")
        at = int(mine[index])
        config = file.config
        stored = str(file.records["leads"][row]).split(",")
        picked = _pick_leads(stored, leads)
        values = np.asarray(file.__getitems__([at])[0][0], dtype=np.float64)  # a signals file computes it
        values = values.reshape(len(stored), -1, values.shape[-1])[picked]  # to1d: n_bins rows per lead
        start = int(file.windows["start"][at])
        waveform, why = _waveform(file, row, start, picked)
        return Window(record, index, start, float(config["fs"]), [stored[i] for i in picked], values,
                      int(file.windows["qc"][at]), waveform, why, str(file.records["flat_leads"][row]))


def _title(w: Window) -> str:
    flags = [name for name, bit in FLAGS.items() if w.qc & bit]
    qc = ", ".join(flags) if flags else "none"
    flat = f" (record's flat leads: {w.flat_leads})" if w.flat_leads else ""
    return f"{w.record}, window {w.index} (from {w.start / w.fs:.2f} s)   QC flags: {qc}{flat}"


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around centres (for pcolormesh): midpoints, and half a step beyond each end."""
    if len(values) == 1:
        return np.array([values[0] - 0.5, values[0] + 0.5])
    mid = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - mid[0]], mid, [2 * values[-1] - mid[-1]]])


def _draw_spectrogram(ax: Any, db: np.ndarray, times: np.ndarray, freqs: np.ndarray, edge: np.ndarray,
                      lead: str, top: float) -> Any:
    t_edges = _edges(times)
    mesh = ax.pcolormesh(t_edges, _edges(freqs), db, shading="flat", cmap="magma", vmin=top - DYNAMIC_RANGE_DB,
                         vmax=top)
    for j in np.flatnonzero(edge):
        ax.axvspan(t_edges[j], t_edges[j + 1], **EDGE_SHADE)
    ax.set_ylabel(f"{lead}\nHz")
    return mesh


def render(w: Window, times: np.ndarray, freqs: np.ndarray, edge: np.ndarray, output: Path) -> Path:
    """Draw ``w`` into the PNG ``output``."""
    plt = _pyplot()
    rows = len(w.leads) + 1
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(10, 1.0 + 1.5 * rows), squeeze=False,
                             gridspec_kw={"height_ratios": [1.4] + [1] * len(w.leads)}, layout="constrained")
    axes = axes[:, 0]
    if w.waveform is not None:
        t = np.arange(w.waveform.shape[-1]) / w.fs
        spread = max(float(np.ptp(w.waveform, axis=1).max()), 1e-9)
        for k, (lead, x) in enumerate(zip(w.leads, w.waveform)):
            axes[0].plot(t, x - np.median(x) - k * spread, linewidth=0.6, label=lead)
        axes[0].set_yticks([])
        axes[0].legend(loc="upper right", fontsize="x-small", ncol=min(len(w.leads), 6))
    else:
        axes[0].text(0.5, 0.5, f"no waveform: {w.why_no_waveform}", ha="center", va="center",
                     transform=axes[0].transAxes, fontsize="small", wrap=True)
        axes[0].set_yticks([])
    axes[0].set_title(_title(w), fontsize="medium")
    db = 10 * np.log10(np.maximum(w.spectrogram, 1e-30))
    for ax, lead, values in zip(axes[1:], w.leads, db):
        mesh = _draw_spectrogram(ax, values, times, freqs, edge, lead, float(db.max()))
    fig.colorbar(mesh, ax=list(axes[1:]), label="power (dB)", fraction=0.03, pad=0.01)
    t_edges = _edges(times)
    axes[-1].set_xlim(t_edges[0], t_edges[-1])  # the frames' span, without the waveform's autoscale margin
    axes[-1].set_xlabel("time in window (s); hatched: frames shaped by the edge padding")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def plot_window(path: str | os.PathLike[str], output: str | os.PathLike[str], record: str, index: int = 0,
                leads: Sequence[str] | None = None) -> Path:
    """Draw window ``index`` of ``record`` in the output at ``path`` into the PNG ``output``; return its path."""
    _pyplot()  # the missing extra is the first thing to say
    if not Path(path).exists():
        raise OutputError(f"{path}: no such file")
    w = load_window(path, record, index, leads)
    with SpectrogramFile(path, allow_partial=True) as file:
        times, freqs, edge = file.frame_times, file.frequencies, file.edge_frames
    return render(w, np.asarray(times), np.asarray(freqs), np.asarray(edge, dtype=bool), Path(output))
