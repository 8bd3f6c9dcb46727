"""Score the trained model on the test set and write evaluation.json (a Processing job)."""

import csv
import json
import math
import pathlib
import tarfile

with tarfile.open("/opt/ml/processing/model/model.tar.gz") as archive:
    model = json.load(archive.extractfile("model.json"))
weights, bias = model["weights"], model["bias"]
lines = pathlib.Path("/opt/ml/processing/test/test.csv").read_text().splitlines()
rows = [[float(v) for v in row] for row in csv.reader(lines)]
right = 0
for x1, x2, label in rows:
    probability = 1 / (1 + math.exp(-(weights[0] * x1 + weights[1] * x2 + bias)))
    right += (probability > 0.5) == (label == 1)
accuracy = right / len(rows)
out = pathlib.Path("/opt/ml/processing/evaluation")
out.mkdir(parents=True, exist_ok=True)
(out / "evaluation.json").write_text(json.dumps({"metrics": {"accuracy": {"value": accuracy}}}))
print(f"test accuracy {accuracy:.4f} on {len(rows)} rows")
