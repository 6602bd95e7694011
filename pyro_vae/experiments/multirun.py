"""Independent runs of one experiment over several seeds, in parallel worker processes.

Seed 002 reports the median and the inter-quartile range of the relative gap over 10 or 100
runs (Fig. 1 bottom, Fig. 2). Each run is a ``task(seed)``; with ``workers > 1`` the runs go
to a pool of spawned processes, so that N small runs on a 2-core machine take about half the
time of running them one after another.

Every run uses one torch thread, in a worker or in this process: torch's CPU kernels add in
another order with more threads, so a seed's numbers would otherwise depend on ``workers``.
"""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pyro
import torch
from tqdm import tqdm

from ..allocator import retain_freed_memory

T = TypeVar("T")
A = TypeVar("A")


def default_workers(runs: int) -> int:
    """One worker per CPU this process may use, at most one per run."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(runs, cpus))


def run_seeds(
    task: Callable[[int], T],
    seeds: Sequence[int],
    workers: int = 1,
    progress: bool = False,
    desc: str = "runs",
) -> list[T]:
    """``[task(s) for s in seeds]``, in ``workers`` processes when more than one.

    ``task`` must be picklable (a module-level function or a ``functools.partial`` of one).
    Every run starts with ``pyro.set_rng_seed(seed)`` and runs on one torch thread, so that its
    result does not depend on the process that runs it, on ``workers`` or on the runs before it.
    With one worker the runs go one after another in this process. Results come back in the
    order of ``seeds``.
    """
    return run_tasks(task, seeds, seeds, workers, progress, desc)


def run_tasks(
    task: Callable[[A], T],
    arguments: Sequence[A],
    seeds: Sequence[int],
    workers: int = 1,
    progress: bool = False,
    desc: str = "runs",
) -> list[T]:
    """``[task(a) for a in arguments]``, each call seeded by its entry of ``seeds``, as
    :func:`run_seeds` runs them (e.g. one call per setup of an experiment)."""
    if len(arguments) != len(seeds):
        raise ValueError(f"run_tasks: {len(arguments)} arguments but {len(seeds)} seeds")
    calls = [functools.partial(_seeded, task, a, s) for a, s in zip(arguments, seeds)]
    bar = tqdm(total=len(calls), disable=not progress, desc=desc, leave=False)
    try:
        if workers <= 1 or len(calls) <= 1:
            results = []
            for call in calls:
                results.append(call())
                bar.update()
            return results
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                      initializer=_worker_setup)
        try:
            futures = {pool.submit(call): i for i, call in enumerate(calls)}
            results: list = [None] * len(calls)
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
        except BaseException:  # Ctrl-C or a failed run: stop the others now
            _stop(pool)
            raise
        pool.shutdown()
        return results
    finally:
        bar.close()


def run_config_seeds(one_run: Callable, config, device: str = "cpu", progress: bool = False,
                     desc: str = "runs", checkpoints: pathlib.Path | None = None) -> tuple[list[int], int, list]:
    """``one_run(config, seed, checkpoints)`` for the seeds ``config.seed … config.seed +
    config.runs − 1``, as :func:`run_on_device` runs them; ``checkpoints`` is the folder where
    the runs keep their fits' checkpoints (None: none are kept).

    Returns the seeds, the number of workers and the results in the order of the seeds.
    """
    seeds = [config.seed + i for i in range(config.runs)]
    task = functools.partial(one_run, config, checkpoints=checkpoints)
    workers, results = run_on_device(task, seeds, seeds, config.workers, device, progress, desc)
    return seeds, workers, results


def run_on_device(task: Callable[[A], T], arguments: Sequence[A], seeds: Sequence[int], workers: int,
                  device: str = "cpu", progress: bool = False, desc: str = "runs") -> tuple[int, list[T]]:
    """:func:`run_tasks` in ``workers`` processes (0: one per CPU) on the CPU; on a CUDA device
    one after another in this process, with new tensors made on the device (a task moves its
    data to ``torch.get_default_device()``). Returns the number of workers and the results."""
    if device != "cpu":
        with torch.device(device):
            return 1, run_tasks(task, arguments, seeds, 1, progress, desc)
    workers = min(workers or default_workers(len(arguments)), max(len(arguments), 1))  # the processes started
    return workers, run_tasks(task, arguments, seeds, workers, progress, desc)


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Drop the runs not yet started and end the workers' current ones (their fits' last
    checkpoints stay), instead of waiting for every queued run as ``shutdown`` would."""
    if hasattr(pool, "terminate_workers"):  # Python 3.14
        pool.terminate_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(cancel_futures=True)  # returns once the pool has seen its workers end


def _seeded(task: Callable[[A], T], argument: A, seed: int) -> T:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pyro.set_rng_seed(seed)
        return task(argument)
    finally:
        torch.set_num_threads(threads)


def _worker_setup() -> None:
    """Freed memory kept for reuse in each worker (:mod:`pyro_vae.allocator`)."""
    retain_freed_memory()


def quartiles(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, 25th and 75th percentile over runs (axis 0) of a ``runs × steps`` array."""
    q25, median, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75], axis=0)
    return median, q25, q75
