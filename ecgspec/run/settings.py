"""An ``extract`` run's settings, resolved once at the entry into one frozen :class:`Settings`.

The CLI (:mod:`ecgspec.cli`) and the Python API (:mod:`ecgspec.run.api`) both turn what the user gave
(defaults < YAML < command line or keywords, :func:`~ecgspec.run.options.build_settings`) into a
checked :class:`~ecgspec.engine.config.InputConfig` and :class:`~ecgspec.run.options.ExtractOptions`,
then call :func:`resolve` once: everything derived from them (the config the file stores, the
window shape, what each record's reading needs) is worked out here and nowhere below. The stages
receive the :class:`Settings` (reader threads and processes only its :attr:`Settings.read`) and
never re-derive or re-check a setting. No torch, no h5py here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ..engine.config import InputConfig
from ..signal import quality
from ..signal.spec import Cut, ReadSpec
from ..store.schema import normalised_config
from .limits import LIMITS, Limits
from .options import ExtractOptions, effective_config
from .targets import required_class

__all__ = ["Settings", "resolve"]


@dataclass(frozen=True)
class Settings:
    """One run's settings, frozen (build with :func:`resolve`)."""

    config: InputConfig  # the engine's config, checked (its device not yet resolved: the engine does that)
    options: ExtractOptions  # the command's options, checked
    stored: Mapping[str, Any]  # the effective config as the file stores it: root attribute "config", the run digest
    window_shape: tuple[int, ...]  # one window's spectrogram
    read: ReadSpec  # what reading each record needs: all that a reader thread or process is given
    limits: Limits = LIMITS

    def on_worker(self, device: str) -> Settings:
        """A cluster task's settings: the engine on ``device`` (the one setting a Dask worker resolves
        itself), reading in the task's own process, one file of its own (no shard, cluster or merge)."""
        config = InputConfig({**self.config, "device": device})
        options = dataclasses.replace(self.options, device=device, cluster=None, shard=None, merge="copy", workers=0)
        return dataclasses.replace(self, config=config, options=options)


def resolve(config: InputConfig, options: ExtractOptions, limits: Limits = LIMITS) -> Settings:
    """The run's :class:`Settings` from its checked config and options: the one place they are combined."""
    stored = normalised_config(effective_config(config, options))
    cut = Cut(config.sampling_rate, config["n_samples"], stored["stride"], options.max_nan, limits.block_samples,
              quality.ENABLED)
    read = ReadSpec(cut, config["n_channels"], input_fs=options.input_fs, leads=options.leads,
                    channels=options.channels, lead_set=options.lead_set, lead_aliases=options.lead_aliases,
                    derive_leads=options.derive_leads, to_mv=options.units == "mV", preprocess=options.preprocess,
                    required_class=required_class(options), signals=options.store == "signals")
    return Settings(config, options, stored, tuple(config.window_shape), read, limits)
