"""Stage 1 of a two-stage pipeline: turn raw data into a training set.

python prep.py                       # writes runs/prep/<timestamp>/ with its run.lock
python prep.py data.raw=other.csv    # any config key, on the command line
"""

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import naga

log = logging.getLogger("prep")


@dataclass
class Data:
    raw: str = "raw.csv"
    scale: float = 10.0


@dataclass
class Config:
    data: Data = field(default_factory=Data)
    # ${naga.track:...} hashes the raw data into run.lock (in the background)
    source: str = "${naga.track:${data.raw}}"
    save_dir: str = "runs/prep/${naga.now:%Y%m%d-%H%M%S}"


@naga.clicfg(Config, require_save_dir=True)
def main(cfg: Config) -> Path:
    with open(cfg.source, newline="") as handle:
        rows = list(csv.reader(handle))
    out = Path(cfg.save_dir) / "train.csv"
    with out.open("w", newline="") as handle:
        csv.writer(handle).writerows([[float(x) / cfg.data.scale, y] for x, y in rows])
    log.info("wrote %d rows to %s", len(rows), out)
    return out


if __name__ == "__main__":
    main()
