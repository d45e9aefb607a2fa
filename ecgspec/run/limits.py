"""Every tunable of an ``extract`` run in one frozen value, :class:`Limits`: how much is read ahead, in
how many threads, through how much shared memory, how often the file commits. None of them changes a
value written; each only trades memory or latency for speed (its comment says what it bounds). A
run takes them from its :class:`~ecgspec.run.settings.Settings`. No torch, no h5py here."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LIMITS", "Limits"]


@dataclass(frozen=True)
class Limits:
    """A run's tunables (:data:`LIMITS`: the defaults every run uses)."""

    # reading (stage 1)
    block_samples: int = 1 << 18  # raw samples per channel read at once from a long record
    read_threads: int = 2  # reader threads of a --workers 0 run (everything in one process)
    queue_blocks: int = 2  # events buffered per record ahead of the batcher (reader threads)
    # reader processes (--workers N): windows through shared memory
    slot_bytes: int = 1 << 20  # a shared-memory slot: at least this, at least one window
    shm_bytes: int = 32 << 20  # the slots of all workers together, about (at least slots_min a worker)
    slots_min: int = 4  # slots per worker at least: windows one worker may have sent and the run not yet batched
    read_ahead_bytes: int = 256 << 20  # windows all workers together may hold read ahead of the run
    in_flight: int = 1024  # records handed to one worker ahead of the one the run waits for (bytes bind first)
    send_batch: int = 32  # records handed over in one message
    poll_seconds: float = 0.1  # how often a waiting thread looks at the stop flag
    join_seconds: float = 0.5  # how long a stopping worker may take before it is terminated
    map_chunk: int = 1000  # items of one task of map_in_processes
    # batching and writing (stages 2 and 3)
    batch_buffers: int = 3  # spectrogram batches in flight between the engine and the writer
    flush_seconds: float = 2.0  # the writer's commit points: at most this far apart
    switch_interval: float = 5e-4  # the GIL switch interval during a run (see ecgspec.run.runtime)
    # the headers read before a run (free space) and by a dry run
    process_min_records: int = 2000  # fewer headers are read faster in threads than processes start
    sample_records: int = 500  # headers read at most for the free-space estimate (a sample stands for the rest)


LIMITS = Limits()
