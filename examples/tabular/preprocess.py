"""Split the raw CSV into train and test sets (a Processing job; standard library only)."""

import csv
import pathlib
import random

rows = list(csv.reader(pathlib.Path("/opt/ml/processing/input/data.csv").read_text().splitlines()))
random.Random(7).shuffle(rows)
cut = int(len(rows) * 0.8)
for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
    out = pathlib.Path(f"/opt/ml/processing/{name}")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(part)
print(f"split {len(rows)} rows: {cut} to train, {len(rows) - cut} to test")
