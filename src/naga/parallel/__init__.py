"""Parallel tasks and sweeps: a task pool on the shared filesystem, run by local or Slurm workers.

The package is shared by two backends, so its layout is a contract:

- A sweep lives in ``<store>/sweeps/<sweep_id>/`` (``sweep_id`` like ``sw-261122-101500-a3f9``)
  holding ``sweep.json`` (id, created_at, kind ``"clicfg"`` or ``"command"``, the task list,
  how to run them, backend info) and ``pool/``, the task pool (:mod:`naga.parallel.pool`).
  :func:`naga.parallel.sweepdir.create_sweep` makes one (or reopens the one with the same key:
  resume); :func:`naga.parallel.sweepdir.load_sweep` reads one; ``resolve_sweep`` finds one by
  id, prefix or ``latest``.
- :func:`naga.parallel.worker.run_worker` ``(sweep_dir) -> int`` claims tasks from a sweep's
  pool until none is left and runs each as its own naga run tagged ``sweep:<sweep_id>``
  (params ``sweep.id``, ``sweep.task``); returns how many it ran. Any number of workers may run
  at once on hosts sharing the filesystem; a killed worker's task is taken over, a completed
  task never runs again, a failed one is recorded and the worker goes on. An interrupted task
  (Ctrl-C, SIGTERM) ends ``cancelled``, is released, and the worker raises
  (``KeyboardInterrupt``, ``SystemExit`` or ``worker.Interrupted``).
- :func:`naga.parallel.slurm.submit_sweep` ``(sweep_dir, slurm_config, *, n_workers, after,
  dry_run) -> str`` hands a sweep directory to Slurm (submitit array jobs whose tasks call
  ``run_worker``).

- Every file of a sweep is named by :mod:`naga.parallel.sweepdir` (``SweepLayout``,
  ``SweepFiles``); how a task ended, by :func:`naga.parallel.endings.task_ending`.

Programs: a sweep of a Python program runs it as a :class:`naga.parallel.program.TaskProgram`
(run one task; the arguments that give a task's overrides). ``clicfg``'s ``ConfiguredMain`` is
one; its ``--tasks`` front end lives on the config side (:mod:`naga.config.sweeps`), which
imports this package and never the other way round. ``naga sweep`` runs any command
(:mod:`naga.parallel.commands`, grammar in :mod:`naga.parallel.grammar`); both are dispatched by
:mod:`naga.parallel.dispatch`.

Nothing here prints or exits: progress goes to a :class:`naga.notices.Reporter` the caller
passes (by default the ``naga`` logger), results are returned, errors raised; the front ends
(``naga.cli``, :mod:`naga.config.frontend`) render them. Nothing here is imported on ``naga
run``'s or ``import naga``'s start-up path.
"""
