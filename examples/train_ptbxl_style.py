"""A PTB-XL-style training run: records and a labels table in, a small CNN trained on the spectrograms.

    .venv/bin/python examples/train_ptbxl_style.py --data ../shared/data/cinc2021
    .venv/bin/python examples/train_ptbxl_style.py --data ptb-xl/ --labels ptb-xl/ptbxl_database.csv \\
        --label-key filename_hr --group patient_id --target NORM

1. ``ecgspec.extract(..., labels=TABLE, label_key=KEY)`` joins the table's rows to the records:
   each column lands in ``/records/labels/<column>`` (PTB-XL: ``filename_hr`` names the record,
   ``patient_id``, ``strat_fold``, ``scp_codes``); the headers' ``# key: value`` lines land in
   ``/records/meta/<key>``.
2. ``ecgspec.split(ds, by="labels/patient_id")`` splits the windows with no patient in two parts.
3. ``DataLoader(train, batch_size=64, sampler=train.sampler(block=64))`` shuffles blocks of
   consecutive windows: every batch is one or two HDF5 reads, at the speed of the file.

Without ``--labels`` (the shared CinC records have no table) a PTB-XL-like one is written from
the headers: ``filename_hr`` (the record), ``patient_id`` (two records a patient, for the
example) and ``scp_codes`` (the header's ``Dx`` codes); the target is sinus rhythm (426783006).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

import ecgspec

CONFIG = {"n_bins": 16, "feature_fs": 20, "to1d": True}  # small windows: (12 x 16, 20 frames) a record


def demo_table(records: Path, path: Path) -> Path:
    """A PTB-XL-like labels table of the records under ``records``, from their headers' Dx lines."""
    names = sorted(p.stem for p in records.glob("*.hea"))
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["filename_hr", "patient_id", "scp_codes"])
        for i, name in enumerate(names):
            dx = next((line.split(":", 1)[1].strip() for line in (records / f"{name}.hea").read_text().splitlines()
                       if line.startswith("# Dx:")), "")
            out.writerow([name, 1000 + i // 2, dx])
    return path


class SmallCNN(nn.Module):
    """Conv1d over the frame axis, the (leads x bins) axis as channels; one logit."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(channels, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                                 nn.Flatten(), nn.Linear(32, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.log1p(x.float())).squeeze(1)


def targets(codes: list[str], target: str) -> torch.Tensor:
    return torch.tensor([float(target in str(c)) for c in codes])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/data/cinc2021"), help="folder of records")
    p.add_argument("--labels", type=Path, help="labels table (CSV, TSV, Parquet) [one from the headers]")
    p.add_argument("--label-key", default="filename_hr", help="its column naming records [filename_hr]")
    p.add_argument("--group", default="patient_id", help="split by this label column [patient_id]")
    p.add_argument("--codes", default="scp_codes", help="label column holding the diagnosis codes [scp_codes]")
    p.add_argument("--target", default="426783006", help="code the model learns to spot [426783006]")
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        table = args.labels or demo_table(args.data, Path(tmp) / "labels.csv")
        out = Path(tmp) / "train.h5"
        result = ecgspec.extract(args.data, out, CONFIG, labels=str(table), label_key=args.label_key,
                                 log=lambda m: None)
        print(result.summary_line())
        with ecgspec.open(out, columns=(f"labels/{args.codes}",)) as ds:
            print(f"{len(ds)} windows of {ds.window_shape}; labels: "
                  f"{', '.join(k for k in ds.records if k.startswith('labels/'))}")
            train, val, test = ecgspec.split(ds, by=f"labels/{args.group}", fractions=(0.8, 0.1, 0.1), seed=0)
            groups = ds.records[f"labels/{args.group}"][ds.windows["record"]]
            seen = [set(groups[part.indices].tolist()) for part in (train, val, test)]
            leaked = (seen[0] & seen[1]) | (seen[0] & seen[2]) | (seen[1] & seen[2])
            print(f"split by {args.group}: {len(train)} / {len(val)} / {len(test)} windows, "
                  f"{len(leaked)} {args.group} values in two parts")
            model = SmallCNN(ds.window_shape[0])
            optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
            sampler = train.sampler(shuffle=True, block=64, seed=0)
            loader = DataLoader(train, batch_size=64, sampler=sampler)
            for epoch in range(args.epochs):
                sampler.set_epoch(epoch)  # a new block order each epoch
                total = 0.0
                for specs, _, _, columns in loader:
                    loss = nn.functional.binary_cross_entropy_with_logits(
                        model(specs), targets(columns[f"labels/{args.codes}"], args.target))
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    total += loss.item() * len(specs)
                print(f"epoch {epoch}: train loss {total / len(train):.3f}")
            with torch.no_grad():
                held = [b for b in DataLoader(test, batch_size=64)]
                hits = sum(int(((model(s) > 0).float() == targets(c[f"labels/{args.codes}"], args.target)).sum())
                           for s, _, _, c in held)
            print(f"test accuracy: {hits}/{len(test)} = {hits / max(1, len(test)):.2f}")
            print(f"a training batch: {tuple(next(iter(loader))[0].shape)}")


if __name__ == "__main__":
    main()
