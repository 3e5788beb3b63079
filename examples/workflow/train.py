"""The recommended workflow: clicfg -> mlflow_lock -> the training logic (naga.log) -> runlock.

export MLFLOW_TRACKING_URI=sqlite:///mlflow.db         # or your server: http://host:5000
python train.py                                        # one stage, in runs/fit
python train.py name=pretrain                          # stage 1 of a pipeline: runs/pretrain
python train.py name=finetune 'init=${naga.stage:runs/pretrain}'   # stage 2 starts from stage 1
"""

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import naga

log = logging.getLogger("train")


@dataclass
class Config:
    name: str = "fit"
    data: str = "${naga.track:points.csv}"  # hashed into run.lock
    # a previous stage to start from; ${naga.stage:DIR} checks it completed and records it
    init: str | None = None
    epochs: int = 10
    lr: float = 0.05
    save_dir: str = "runs/${name}"  # the stage's directory: its MLflow logical run id


@naga.clicfg(Config, require_save_dir=True, run="train")  # config, run.lock, a naga run
def main(cfg: Config) -> float:
    save_dir = Path(cfg.save_dir)
    # one MLflow run per attempt at this stage; a rerun supersedes the previous one
    with naga.mlflow_lock(save_dir):
        w = json.loads((Path(cfg.init) / "model.json").read_text())["w"] if cfg.init else 0.0
        with open(cfg.data, newline="") as handle:
            points = [(float(x), float(y)) for x, y in csv.reader(handle)]
        for epoch in range(cfg.epochs):
            grad = sum(2 * (w * x - y) * x for x, y in points) / len(points)
            w -= cfg.lr * grad
            loss = sum((w * x - y) ** 2 for x, y in points) / len(points)
            naga.log({"loss": loss, "w": w}, step=epoch)
        (save_dir / "model.json").write_text(json.dumps({"w": w}))
        log.info("w=%.3f loss=%.5f", w, loss)
        # the result joins the lock (merged into what clicfg wrote) before it goes to MLflow
        naga.runlock(cfg, data={"model": save_dir / "model.json"}, merge=True)
    return loss


if __name__ == "__main__":
    main()
