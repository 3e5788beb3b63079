"""A small real training run: a linear classifier on scikit-learn's bundled digits images.

No download: the data ships inside scikit-learn. A tqdm progress bar redraws in place per epoch
and each epoch prints its metrics, so the run looks and behaves like a real training script.

    naga run python examples/train_digits.py --epochs 20 --lr 0.01
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=0.01, help="initial learning rate")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=args.seed, stratify=digits.target
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    model = SGDClassifier(
        loss="log_loss", learning_rate="constant", eta0=args.lr, random_state=args.seed
    )
    classes = np.unique(digits.target)
    rng = np.random.default_rng(args.seed)
    print(f"digits: {len(x_train)} train / {len(x_test)} test images, {len(classes)} classes")
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))
        batches = range(0, len(order), args.batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch:2d}", leave=False, file=sys.stdout):
            idx = order[start : start + args.batch_size]
            model.partial_fit(x_train[idx], y_train[idx], classes=classes)
        loss = log_loss(y_test, model.predict_proba(x_test), labels=classes)
        acc = accuracy_score(y_test, model.predict(x_test))
        print(f"epoch {epoch:2d}  test_loss={loss:.4f}  test_acc={acc:.4f}", flush=True)
    print(f"final test_acc={acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
