"""Parallel tasks and sweeps: a task pool on the shared filesystem, run by local or Slurm workers.

The package is shared by two backends, so its layout is a contract:

- A sweep lives in ``<store>/sweeps/<sweep_id>/`` (``sweep_id`` like ``sw-261122-101500-a3f9``)
  holding ``sweep.json`` (id, created_at, kind ``"clicfg"`` or ``"command"``, the task list,
  backend info) and the pool's files (see :mod:`naga.parallel.pool`).
- :func:`naga.parallel.worker.run_worker` claims tasks from a sweep's pool until none is left and
  runs each as its own naga run tagged ``sweep:<sweep_id>``. Any number of workers may run at
  once on hosts sharing the filesystem; a killed worker's task is taken over, a completed task is
  never run again.
- :func:`naga.parallel.slurm.submit_sweep` hands a sweep directory to Slurm (submitit array
  jobs whose tasks call ``run_worker``).

Nothing here is imported on ``naga run``'s or ``import naga``'s start-up path.
"""
