"""A PTB-XL-style training run: records, a labels table and a vocabulary in, a multi-label CNN out,
scored by macro AUROC on each part.

    .venv/bin/python examples/train_ptbxl_style.py --data ../shared/data/cinc2021
    .venv/bin/python examples/train_ptbxl_style.py --data ptb-xl/ --labels ptb-xl/ptbxl_database.csv \\
        --label-key filename_hr --targets ptbxl:superdiagnostic

1. ``ecgspec.extract(..., labels=TABLE, label_key=KEY, targets=VOCAB, targets_required=True)`` joins the
   table's rows to the records (``/records/labels/<column>``: PTB-XL's ``patient_id``, ``strat_fold``,
   ``scp_codes``) and writes each record's class vector (``/records/targets``, classes in
   ``ds.classes``); records without a class are skipped, as the PTB-XL benchmark drops them.
2. The parts: the published folds where the table has them (``strat_fold`` 1-8 train, 9 validation,
   10 test), else ``ecgspec.split(ds, by=patient, stratify="targets")``: no patient in two parts,
   every class spread across the parts as the fractions say.
3. ``ecgspec.open(..., columns=("targets",))`` gives each window its record's row as a float32
   tensor; ``DataLoader(train, sampler=train.sampler(block=64))`` shuffles blocks of consecutive
   windows (each batch one or two HDF5 reads); the loss is binary cross-entropy per class.

Without ``--labels`` (the shared CinC records have no table) a table of patients is written (two
records a patient, for the example), and the classes are CinC 2021's from the headers' Dx codes.
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn
from torch.utils.data import DataLoader

import ecgspec

CONFIG = {"n_bins": 16, "feature_fs": 20, "to1d": True}  # small windows: (12 x 16, 20 frames) a record
FOLDS = (tuple(range(1, 9)), (9,), (10,))  # PTB-XL's published parts: train, validation, test


def demo_table(records: Path, path: Path) -> Path:
    """A table of the records under ``records``: ``filename_hr`` (the record), ``patient_id`` (two a patient)."""
    names = sorted(p.stem for p in records.glob("*.hea"))
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["filename_hr", "patient_id"])
        out.writerows([name, 1000 + i // 2] for i, name in enumerate(names))
    return path


class SmallCNN(nn.Module):
    """Conv1d over the frame axis, the (leads x bins) axis as channels; a logit a class."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(channels, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                                 nn.Flatten(), nn.Linear(32, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.log1p(x.float()))


def macro_auroc(scores: np.ndarray, truth: np.ndarray) -> tuple[float, int]:
    """The mean AUROC over the classes a part holds both ways (Mann-Whitney, ties averaged), and their count."""
    values = []
    for k in range(truth.shape[1]):
        positive = truth[:, k] == 1
        n1, n0 = int(positive.sum()), int((~positive).sum())
        if n1 and n0:
            ranks = rankdata(scores[:, k])
            values.append((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    return (float(np.mean(values)) if values else math.nan), len(values)


def evaluate(model: nn.Module, part: torch.utils.data.Dataset) -> tuple[float, int]:
    scores, truth = [], []
    with torch.no_grad():
        for specs, _, _, columns in DataLoader(part, batch_size=64):
            scores.append(torch.sigmoid(model(specs)).numpy())
            truth.append(columns["targets"].numpy())
    return macro_auroc(np.concatenate(scores), np.concatenate(truth)) if scores else (math.nan, 0)


def parts_of(ds: ecgspec.SpectrogramFile, group: str) -> tuple[str, list]:
    """The published folds where the file has them, else a grouped split stratified by the targets."""
    if "labels/strat_fold" in ds.records:
        return "published folds (strat_fold 1-8, 9, 10)", ecgspec.split(ds, folds="labels/strat_fold", parts=FOLDS)
    parts = ecgspec.split(ds, by=f"labels/{group}", fractions=(0.8, 0.1, 0.1), seed=0, stratify="targets")
    return f"split by {group}, stratified by the targets", parts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/cinc2021"), help="folder of records")
    p.add_argument("--labels", type=Path, help="labels table (CSV, TSV, Parquet) [one of patients]")
    p.add_argument("--label-key", default="filename_hr", help="its column naming records [filename_hr]")
    p.add_argument("--targets", default="cinc2021", help="the vocabulary (--targets of extract) [cinc2021]")
    p.add_argument("--group", default="patient_id", help="without folds, split by this label column [patient_id]")
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        table = args.labels or demo_table(args.data, Path(tmp) / "labels.csv")
        out = Path(tmp) / "train.h5"
        result = ecgspec.extract(args.data, out, CONFIG, labels=str(table), label_key=args.label_key,
                                 targets=args.targets, targets_required=True, log=lambda m: None)
        print(result.summary_line())
        with ecgspec.open(out, columns=("targets",)) as ds:
            counts = ds.records["targets"].sum(axis=0)
            print(f"{len(ds)} windows of {ds.window_shape}; {len(ds.classes)} classes of {args.targets}, "
                  f"{int((counts > 0).sum())} held by a record")
            how, (train, val, test) = parts_of(ds, args.group)
            print(f"{how}: {len(train)} / {len(val)} / {len(test)} windows")
            model = SmallCNN(ds.window_shape[0], len(ds.classes))
            optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
            sampler = train.sampler(shuffle=True, block=64, seed=0)
            loader = DataLoader(train, batch_size=64, sampler=sampler)
            for epoch in range(args.epochs):
                sampler.set_epoch(epoch)  # a new block order each epoch
                total = 0.0
                for specs, _, _, columns in loader:
                    loss = nn.functional.binary_cross_entropy_with_logits(model(specs), columns["targets"])
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    total += loss.item() * len(specs)
                print(f"epoch {epoch}: train loss {total / len(train):.3f}")
            for name, part in (("train", train), ("validation", val), ("test", test)):
                auroc, n = evaluate(model, part)
                print(f"macro AUROC {name}: {auroc:.3f} over the {n} classes it holds both ways")
            print(f"a training batch: {tuple(next(iter(loader))[0].shape)}")


if __name__ == "__main__":
    main()
