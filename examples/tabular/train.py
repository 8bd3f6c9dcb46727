"""Fit a logistic regression by gradient descent (a Training job; standard library only).

Reads the `train` channel and the hyperparameters SageMaker writes to /opt/ml/input/config,
and leaves model.json in /opt/ml/model, which becomes model.tar.gz in S3."""

import csv
import json
import math
import pathlib

hyperparameters = json.loads(pathlib.Path("/opt/ml/input/config/hyperparameters.json").read_text())
epochs = int(hyperparameters.get("epochs", 300))
learning_rate = float(hyperparameters.get("learning_rate", 1.0))
lines = pathlib.Path("/opt/ml/input/data/train/train.csv").read_text().splitlines()
rows = [[float(v) for v in row] for row in csv.reader(lines)]


def predict(weights, bias, x1, x2):
    return 1 / (1 + math.exp(-(weights[0] * x1 + weights[1] * x2 + bias)))


weights, bias = [0.0, 0.0], 0.0
for epoch in range(epochs):
    grad, grad_bias = [0.0, 0.0], 0.0
    for x1, x2, label in rows:
        error = predict(weights, bias, x1, x2) - label
        grad = [grad[0] + error * x1, grad[1] + error * x2]
        grad_bias += error
    weights = [w - learning_rate * g / len(rows) for w, g in zip(weights, grad, strict=True)]
    bias -= learning_rate * grad_bias / len(rows)
    if epoch % 100 == 0:
        print(f"epoch {epoch}: weights {weights[0]:.3f} {weights[1]:.3f} bias {bias:.3f}")

right = sum((predict(weights, bias, x1, x2) > 0.5) == (label == 1) for x1, x2, label in rows)
print(f"train_accuracy={right / len(rows):.4f}")
pathlib.Path("/opt/ml/model/model.json").write_text(json.dumps({"weights": weights, "bias": bias}))
