"""Record a run from Python: params, metrics, an artifact, then read it back."""

import math

import naga

with naga.run(name="sdk-demo", params={"model": {"lr": 0.01, "depth": 4}}, tags=["demo"]) as run:
    for step in range(200):
        loss = math.exp(-step / 50)
        run.log({"loss": loss, "acc": 1 - loss}, step=step)
    run.log_text(f"final loss {loss:.4f}\n", "summary.txt")

record = naga.load(run.id)  # or naga.runs(where="lr=0.01"), naga.load("sdk-demo")
steps, values = record.metrics("loss")  # numpy arrays
print(record.status, record.params["model.lr"], len(steps), f"{values[-1]:.4f}")
