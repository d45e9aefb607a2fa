"""The Dataset as a training loader: batched reads, ``where``, ``columns``, the block sampler and
``ecgspec.split``, against the file's rows read with plain h5py."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import ecgspec
from ecgspec.errors import OutputError
from ecgspec.store.sampling import BlockSampler


@pytest.fixture(scope="module")
def cpsc_out(tmp_path_factory, cpsc_dir: Path) -> Path:
    """The CPSC 2021 records cut into many 2-s windows: 18 records of 4 to 51 windows each."""
    out = tmp_path_factory.mktemp("loader") / "cpsc.h5"
    ecgspec.extract(cpsc_dir, out, {"fs": 200, "n_samples": 400, "n_channels": 2, "n_bins": 16}, stride=400,
                    log=lambda m: None)
    return out


def rows(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spectrograms, window record rows, starts and record names, read with h5py."""
    with h5py.File(path, "r") as f:
        return (f["spectrograms"][()], f["windows/record"][()], f["windows/start"][()],
                f["records/name"].asstr()[()])


def test_getitems_reads_the_rows_asked_in_their_order(cpsc_out: Path) -> None:
    specs, record, start, names = rows(cpsc_out)
    with ecgspec.open(cpsc_out) as ds:
        assert len(ds) == len(specs) > 300
        for indices in ([5, 6, 7, 8], [9, 3, 4, 5, -1, 0, 0], list(range(len(ds) - 70, len(ds))), [], [17]):
            items = ds.__getitems__(indices)
            assert len(items) == len(indices)
            for i, (spec, name, begin) in zip(indices, items):
                np.testing.assert_array_equal(spec.numpy(), specs[i])
                assert name == names[record[i]] and begin == start[i]
        spec, name, begin = ds[-2]
        assert np.array_equal(spec.numpy(), specs[-2]) and name == names[record[-2]]
        with pytest.raises(IndexError):
            ds.__getitems__([0, len(ds)])


def test_reads_are_one_per_run_of_consecutive_windows(cpsc_out: Path, monkeypatch) -> None:
    calls = []
    original = h5py.Dataset.read_direct

    def counted(self, *args, **kwargs):
        calls.append(args[1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "read_direct", counted)
    with ecgspec.open(cpsc_out) as ds:
        ds.__getitems__([10, 11, 12, 13, 40, 41, 3])
    assert calls == [np.s_[10:14], np.s_[40:42], np.s_[3:4]]


def test_dataloader_batches_equal_the_rows_and_share_no_copy_of_them(cpsc_out: Path) -> None:
    specs, record, start, names = rows(cpsc_out)
    with ecgspec.open(cpsc_out) as ds:
        batches = list(DataLoader(ds, batch_size=64))
        got = torch.cat([b[0] for b in batches]).numpy()
        np.testing.assert_array_equal(got, specs)
        assert [n for b in batches for n in b[1]] == names[record].tolist()
        assert torch.cat([b[2] for b in batches]).tolist() == start.tolist()
        first = batches[0]
        assert isinstance(first.spectrogram, torch.Tensor) and first.spectrogram.dtype == torch.float32
        assert first.spectrogram._base is None  # the batch array itself, not a stacked copy


def test_sampler_is_a_permutation_of_blocks_new_each_epoch(cpsc_out: Path) -> None:
    with ecgspec.open(cpsc_out) as ds:
        sampler = ds.sampler(shuffle=True, block=64, seed=0)
        order = list(sampler)
        assert sorted(order) == list(range(len(ds))) and len(sampler) == len(ds)
        assert order != sorted(order)
        k, n = 0, len(ds)
        while k < n:  # blocks of 64 consecutive windows from a multiple of 64 (the last one shorter)
            first = order[k]
            assert first % 64 == 0
            block = list(range(first, min(first + 64, n)))
            assert order[k:k + len(block)] == block
            k += len(block)
        assert list(ds.sampler(shuffle=True, block=64, seed=0)) == order  # deterministic
        sampler.set_epoch(1)
        again = list(sampler)
        assert again != order and sorted(again) == sorted(order)
        sampler.set_epoch(0)
        assert list(sampler) == order
        assert list(ds.sampler(shuffle=False, block=10)) == list(range(len(ds)))
    with pytest.raises(ValueError, match="block"):
        BlockSampler(10, block=0)


def test_shuffled_batches_hold_the_rows_their_indices_name(cpsc_out: Path) -> None:
    specs, record, start, names = rows(cpsc_out)
    with ecgspec.open(cpsc_out, columns=("name", "n_windows")) as ds:
        sampler = ds.sampler(shuffle=True, block=16, seed=3)
        order = list(sampler)
        loader = DataLoader(ds, batch_size=16, sampler=sampler, num_workers=2, multiprocessing_context="fork")
        k = 0
        for batch in loader:
            picked = order[k:k + len(batch.name)]
            k += len(picked)
            np.testing.assert_array_equal(batch.spectrogram.numpy(), specs[picked])
            assert list(batch.name) == names[record[picked]].tolist()
            assert batch.columns["name"] == list(batch.name)
            assert batch.columns["n_windows"].tolist() == ds.records["n_windows"][record[picked]].tolist()
        assert k == len(ds)


@pytest.mark.slow  # 3.4 s: every kept window read and compared with the full file
def test_where_and_columns(cpsc_out: Path) -> None:
    specs, record, start, names = rows(cpsc_out)
    with ecgspec.open(cpsc_out) as full:
        n_windows = full.records["n_windows"]
    keep = n_windows > 20
    with ecgspec.open(cpsc_out, where=lambda r: r["n_windows"] > 20, columns=("n_windows", "fs")) as ds:
        kept = np.flatnonzero(keep[record])
        assert len(ds) == len(kept) and 0 < len(ds) < len(specs)
        assert ds.windows["record"].tolist() == record[kept].tolist()
        for i in (0, len(ds) // 2, len(ds) - 1):
            spec, name, begin, extra = ds[i]
            np.testing.assert_array_equal(spec.numpy(), specs[kept[i]])
            assert name == names[record[kept[i]]] and extra == {"n_windows": int(n_windows[record[kept[i]]]),
                                                                "fs": 200.0}
        clone = pickle.loads(pickle.dumps(ds))  # the mask travels, the function does not
        assert len(clone) == len(ds) and clone[5][1] == ds[5][1] and clone.where is None
        batches = list(DataLoader(ds, batch_size=32, num_workers=2, multiprocessing_context="spawn"))
        assert sum(len(b.name) for b in batches) == len(ds)
        assert torch.cat([b.columns["n_windows"] for b in batches]).min() > 20
    for bad, message in ((lambda r: r["n_windows"], "boolean mask"), (lambda r: np.ones(3, bool), "boolean mask")):
        with pytest.raises(OutputError, match=message):
            len(ecgspec.open(cpsc_out, where=bad))
    with pytest.raises(OutputError, match="no /records column 'labels/fold'"):
        len(ecgspec.open(cpsc_out, columns=("labels/fold",)))


def test_pickles_small_without_where(cpsc_out: Path) -> None:
    ds = ecgspec.open(cpsc_out)
    len(ds)
    assert len(pickle.dumps(ds)) < 1000
    ds.close()


def _groups(ds, part) -> set:
    return {ds.records["name"][ds.windows["record"][i]] for i in part.indices}


def test_split_is_a_grouped_deterministic_partition(cpsc_out: Path) -> None:
    with ecgspec.open(cpsc_out) as ds:
        # a patient per record pair: data_101_6 and data_101_8 share "101"
        patients = np.array([n.split("_")[1] for n in ds.records["name"]])
        ds.records["labels/subject_id"] = patients  # a column as --labels would add
        parts = ecgspec.split(ds, by="labels/subject_id", fractions=(0.6, 0.2, 0.2), seed=0)
        indices = [p.indices for p in parts]
        assert sorted(i for part in indices for i in part) == list(range(len(ds)))  # a partition
        subject = patients[ds.windows["record"]]
        seen = [set(subject[part]) for part in indices]
        assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])  # no subject in two parts
        assert all(part == sorted(part) for part in indices)
        again = ecgspec.split(ds, by="labels/subject_id", fractions=(0.6, 0.2, 0.2), seed=0)
        assert [p.indices for p in again] == indices
        other = ecgspec.split(ds, by="labels/subject_id", fractions=(0.6, 0.2, 0.2), seed=1)
        assert [p.indices for p in other] != indices
        sizes = np.array([len(p) for p in parts]) / len(ds)
        largest = max(np.bincount(np.unique(subject, return_inverse=True)[1])) / len(ds)
        assert np.all(sizes - (0.6, 0.2, 0.2) <= largest)  # no part over its share by more than a group
        assert np.all(np.abs(sizes - (0.6, 0.2, 0.2)) <= 2 * largest)
        by_record = ecgspec.split(ds, by=None, fractions=(0.5, 0.5), seed=0)
        assert not _groups(ds, by_record[0]) & _groups(ds, by_record[1])
        first = parts[0]
        spec, name, _ = first[0]
        assert np.array_equal(spec.numpy(), ds[first.indices[0]][0].numpy())
        batch = next(iter(DataLoader(first, batch_size=8, sampler=first.sampler(block=8))))
        assert len(batch.name) == 8
        with pytest.raises(ValueError, match="fractions"):
            ecgspec.split(ds, fractions=(0.5, 0.6))
        with pytest.raises(ValueError, match="not a /records column"):
            ecgspec.split(ds, by="labels/nothing")


def test_split_of_many_groups_comes_close_to_the_fractions() -> None:
    from types import SimpleNamespace

    rng = np.random.default_rng(5)
    n_records = 2000
    subject = rng.integers(0, 700, n_records)  # several records a subject
    record = np.repeat(np.arange(n_records), rng.integers(1, 4, n_records))
    fake = SimpleNamespace(windows={"record": record}, records={"labels/subject_id": subject.astype(np.float64)})
    parts = ecgspec.split(fake, by="labels/subject_id", fractions=(0.8, 0.1, 0.1), seed=7)
    owner = np.full(len(record), -1)
    for k, part in enumerate(parts):
        owner[part.indices] = k
    assert (owner >= 0).all() and sum(len(p) for p in parts) == len(record)
    for s in np.unique(subject):  # each subject's windows in one part
        assert len(set(owner[subject[record] == s])) == 1
    largest = np.bincount(subject[record]).max()
    assert np.all(np.abs(np.array([len(p) for p in parts]) - np.array([0.8, 0.1, 0.1]) * len(record)) <= 2 * largest)


def test_raw_spectrograms_are_read_without_a_chunk_cache_compressed_ones_with(cpsc_out: Path, tmp_path: Path,
                                                                                cpsc_dir: Path) -> None:
    with ecgspec.open(cpsc_out) as ds:
        assert ds.spectrograms.id.get_access_plist().get_chunk_cache()[1] == 0  # straight into the batch
    packed = tmp_path / "gzip.h5"
    ecgspec.extract(cpsc_dir, packed, {"fs": 200, "n_samples": 400, "n_channels": 2, "n_bins": 16}, stride=400,
                    compression="gzip", log=lambda m: None)
    specs = rows(cpsc_out)[0]
    with ecgspec.open(packed) as ds:
        assert ds.spectrograms.id.get_access_plist().get_chunk_cache()[1] > 0
        batches = list(DataLoader(ds, batch_size=50, sampler=ds.sampler(block=50, seed=2)))
        order = list(ds.sampler(block=50, seed=2))
        np.testing.assert_array_equal(torch.cat([b.spectrogram for b in batches]).numpy(), specs[order])


def test_collate_copies_rows_that_are_not_a_whole_batch_in_order(cpsc_out: Path) -> None:
    from torch.utils.data import default_collate

    specs = rows(cpsc_out)[0]
    with ecgspec.open(cpsc_out) as ds:
        items = ds.__getitems__([4, 5, 6, 7])
        whole = default_collate(items)
        assert whole.spectrogram.data_ptr() == items[0].spectrogram.data_ptr()  # the batch array itself
        assert whole.start.tolist() == ds.windows["start"][4:8].tolist() and whole.name == [i.name for i in items]
        shuffled = default_collate([items[2], items[0], items[3], items[1]])  # same array, other order
        np.testing.assert_array_equal(shuffled.spectrogram.numpy(), specs[[6, 4, 7, 5]])
        assert shuffled.name == [items[k].name for k in (2, 0, 3, 1)]
        part = default_collate(items[:3])  # not all of its rows
        np.testing.assert_array_equal(part.spectrogram.numpy(), specs[4:7])
        mixed = default_collate([items[0], ds[9]])  # rows of two arrays
        np.testing.assert_array_equal(mixed.spectrogram.numpy(), specs[[4, 9]])
