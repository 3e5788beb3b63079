"""Stage 2: fit a line to stage 1's output. ``prev`` must name a completed prep stage.

python train.py prev=runs/prep/20261122-101500
"""

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import naga

log = logging.getLogger("train")


@dataclass
class Config:
    # ${naga.stage:...} checks that the stage completed and records it in run.lock
    prev: str = "???"
    stage: str = "${naga.stage:${prev}}"
    epochs: int = 50
    lr: float = 0.1
    save_dir: str = "runs/train/${naga.now:%Y%m%d-%H%M%S}"


# run="train": each call is recorded as a naga run (or uses `naga run`'s)
@naga.clicfg(Config, require_save_dir=True, run="train")
def main(cfg: Config) -> float:
    with open(Path(cfg.stage) / "train.csv", newline="") as handle:
        points = [(float(x), float(y)) for x, y in csv.reader(handle)]
    w = 0.0
    for epoch in range(cfg.epochs):
        grad = sum(2 * (w * x - y) * x for x, y in points) / len(points)
        w -= cfg.lr * grad
        loss = sum((w * x - y) ** 2 for x, y in points) / len(points)
        naga.log({"loss": loss}, step=epoch)
    log.info("w=%.3f loss=%.4f", w, loss)
    return loss


if __name__ == "__main__":
    main()
