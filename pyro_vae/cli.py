"""The ``pyro-vae`` command: list the experiments, run one, time the library.

``pyro-vae list`` shows each experiment with its summary and profiles; ``pyro-vae run NAME``
runs one and writes ``results.json``, ``results.md`` and its figures into ``--out``;
``pyro-vae bench`` times an SVI step through the library against the same step hand-written
in PyTorch (:mod:`pyro_vae.bench`) and prints a Markdown table. A user
error (:class:`~pyro_vae.errors.PyroVAEError`, or bad usage) prints one line
``pyro-vae: error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import sys
import textwrap
from typing import NoReturn

from pyro_vae import experiments
from pyro_vae.allocator import retain_freed_memory
from pyro_vae.errors import PyroVAEError

PROG = "pyro-vae"

#: ``pyro-vae bench`` modes: (steps per timed repetition, repetitions) for E1, the same for the
#: two VAE regimes, and the points of the K = 5000 likelihood run.
BENCH_MODES = {"default": ((200, 5), (30, 5), 1000), "quick": ((5, 1), (2, 1), 20)}


class UsageError(Exception):
    """Bad command-line usage, reported like a :class:`PyroVAEError`."""


class _Formatter(argparse.HelpFormatter):
    """Help text wrapped at spaces only, so that names like ``text-hashing`` stay whole."""

    def _split_lines(self, text, width):
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting,
    and wraps help at spaces only."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``pyro-vae`` and its subcommands."""
    parser = _Parser(
        prog=PROG,
        description="Exponential-family VAEs in Pyro: reproduce the experiments of the papers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser(
        "list",
        help="list the experiments",
        description="List the experiments: name, what each reproduces, and its profiles.",
    )
    run = sub.add_parser(
        "run",
        help="run an experiment",
        description="Run an experiment and write results.json, results.md and its figures "
        "into the output folder.",
    )
    run.add_argument("name", metavar="NAME", help="the experiment to run (see 'pyro-vae list')")
    run.add_argument(
        "--profile",
        choices=experiments.PROFILE_NAMES,
        default="default",
        help="smoke: seconds, for tests; default: minutes on a 2-core CPU; "
        "paper: the paper's settings (default: %(default)s)",
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        help="output folder; must not exist or be empty (default: runs/NAME-YYYYmmdd-HHMMSS/)",
    )
    run.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="random seed, a non-negative integer (default: the profile's seed)",
    )
    run.add_argument(
        "--device",
        default="cpu",
        metavar="{cpu,cuda,cuda:N}",
        help="torch device to train on; cuda needs a CUDA build of torch and a GPU "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help="independent runs (seeds seed, seed+1, ...) whose median and interquartile range "
        "are reported; for experiments that repeat runs; linear-vae needs at least 2 (default: "
        "the profile's)",
    )
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes for independent runs (--runs) or setups (the cells of text-hashing, "
        "mle-init, latent-activity); 1 runs them one after another in this process. Every run has "
        "one torch thread, so a seed gives the same numbers whatever N is; 0 is one per CPU. Never "
        "more than the runs or setups (default: the profile's; 0 for default and paper, 1 for "
        "smoke). On a GPU the fits run one after another, so more than 1 is refused",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out DIR from the checkpoints its fits keep there "
        "(linear-vae, vae1, vae3, mle-init, latent-activity); give the options it had; it ends with "
        "the results an uninterrupted run would have",
    )
    run.add_argument(
        "--data",
        metavar="PATH",
        help="real data instead of the built-in synthetic set, for experiments that read files: "
        "text-hashing: a 20Newsgroups 'matlab' folder (train.data, train.label, test.data, "
        "vocabulary.txt), a UCI docword file or an LDA-C file; vae1, latent-activity: a folder or "
        "file of MNIST-format IDX images, gzipped or not; mle-init: IDX images or Frey faces "
        "(frey_rawface.mat)",
    )
    run.add_argument(
        "--vocabulary-size",
        type=int,
        metavar="N",
        help="text-hashing with --data: keep the N most frequent training words (default: the "
        "profile's, 10000 as in seed 000 App. B.2)",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="no progress output (by default progress is shown when stderr is a terminal)",
    )
    bench = sub.add_parser(
        "bench",
        help="time an SVI step: library vs hand-written PyTorch vs stock Pyro",
        description="Time one SVI step through the library and the same step hand-written in plain "
        "PyTorch, side by side: E1 (gmm, batch 1000; objectives enum and elbo), and the two regimes "
        "of the performance targets (a 784-400-50 Bernoulli VAE, batch 128, elbo, meanfield and "
        "tracegraph with 1 particle and iwae with K=10; a linear Gaussian VAE, D=10, H=2, batch 2000, "
        "each with 100 particles), there beside Pyro's own Trace_ELBO, TraceMeanField_ELBO, "
        "TraceGraph_ELBO and RenyiELBO(alpha=0); then the "
        "importance-sampled log-likelihood with K=5000 and the peak memory. Prints Markdown tables.",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="a few steps, one repetition, a small likelihood run: seconds, for a smoke check "
        "(default: the median of 5 repetitions, and the likelihood of 1000 points)",
    )
    bench.add_argument(
        "--likelihood-points",
        type=int,
        metavar="N",
        help="points (784 dimensions) of the K=5000 likelihood run (default: 1000; 20 with --quick; "
        "10000 takes about 16 minutes on 2 cores)",
    )
    bench.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch threads during the timing (default: the CPUs this process may use)",
    )
    bench.add_argument(
        "--out",
        metavar="FILE",
        help="also write the rows, with the settings and versions, to this new JSON file (an existing "
        "file is refused before any timing, not overwritten)",
    )
    return parser


def list_table(width: int | None = None) -> str:
    """The experiments, one block each: the name and its profiles, then the summary wrapped to
    ``width`` columns (the terminal's by default) and indented."""
    width = width or shutil.get_terminal_size().columns
    modules = {name: experiments.get_experiment(name) for name in experiments.EXPERIMENTS}
    column = max(len(name) for name in [*modules, "NAME"])
    blocks = [f"{'NAME':<{column}}  PROFILES"]
    for name, module in modules.items():
        summary = textwrap.fill(module.SUMMARY, width=max(width - 1, 40), initial_indent="    ",
                                subsequent_indent="    ")
        blocks.append(f"{name:<{column}}  {', '.join(module.PROFILES)}\n{summary}")
    return "\n".join(blocks)


def cmd_run(args: argparse.Namespace) -> None:
    """Run one experiment and print where its results are."""
    out = args.out
    if out is None and not args.resume:
        out = experiments.default_out_dir(args.name)
    try:
        results, out_dir = experiments.run_experiment(
            args.name,
            profile=args.profile,
            out=out,
            seed=args.seed,
            device=args.device,
            progress=False if args.quiet else None,
            resume=args.resume,
            runs=args.runs,
            workers=args.workers,
            data=args.data,
            vocabulary_size=args.vocabulary_size,
        )
    except KeyboardInterrupt:
        if out is not None and (pathlib.Path(out) / experiments.CHECKPOINTS).is_dir():
            print(f"{PROG}: interrupted; continue with the same options and --out {out} --resume", file=sys.stderr)
        raise
    held = sum(c.holds for c in results.claims)
    print(
        f"{results.experiment}/{results.profile} (seed {results.seed}): "
        f"{held} of {len(results.claims)} claims hold, {results.runtime_s:.1f} s"
    )
    print(f"results: {out_dir / 'results.md'}")
    print(f"out: {out_dir}")


def cmd_bench(args: argparse.Namespace) -> None:
    """Time the library against hand-written PyTorch; print the table, write JSON if asked."""
    from pyro_vae import bench, bench_vae  # import pyro and torch: only when asked to

    (steps, repeats), (vae_steps, vae_repeats), points = BENCH_MODES["quick" if args.quick else "default"]
    if args.likelihood_points is not None:
        if args.likelihood_points < 1:
            raise UsageError(f"--likelihood-points must be a positive int, got {args.likelihood_points}")
        points = args.likelihood_points
    out = None if args.out is None else pathlib.Path(args.out)
    if out is not None:
        _check_new_file(out)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = bench.bench_gmm(steps=steps, repeats=repeats, threads=args.threads)
    import pyro
    import torch

    threads = rows[0]["threads"]
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        vae_rows = bench_vae.bench_regimes(vae_steps, vae_repeats, warmup=1 if args.quick else 5)
        likelihood = bench_vae.likelihood_run(points, 5000)
    finally:
        torch.set_num_threads(saved)
    print(bench.markdown_table(rows))
    print()
    print(bench.markdown_table(vae_rows, bench.VAE_COLUMNS))
    print(f"\nlog-likelihood by importance sampling, K = {likelihood['samples']}, {likelihood['points']} points "
          f"of {likelihood['dim']} dimensions: {likelihood['seconds']:.1f} s, peak memory of the process "
          f"{likelihood['peak_rss_gib']:.2f} GiB")
    print(
        f"\nmedian of {repeats} × {steps} steps (E1), {vae_repeats} × {vae_steps} steps (VAE regimes); "
        f"torch {torch.__version__} with {threads} thread(s), "
        f"pyro-ppl {pyro.__version__}"
        + (f"; load average before the run {load:.2f} on {bench.available_cpus()} CPU(s)" if load is not None else "")
    )
    if out is not None:
        record = {
            "benchmark": "gmm and the two VAE regimes",
            "steps": steps,
            "repeats": repeats,
            "vae_steps": vae_steps,
            "vae_repeats": vae_repeats,
            "threads": threads,
            "load_average_before": load,
            "torch": torch.__version__,
            "pyro": pyro.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "rows": rows,
            "vae_rows": vae_rows,
            "likelihood": likelihood,
        }
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=2) + "\n")
        except OSError as e:
            raise UsageError(f"--out: cannot write {str(out)!r}: {e.strerror or e}") from e
        print(f"out: {out}")


def _check_new_file(out: pathlib.Path) -> None:
    """Refuse, before any timing, an ``--out`` that is a folder, exists, or cannot be written."""
    if out.is_dir():
        raise UsageError(f"--out: {str(out)!r} is a folder; give a file name such as bench.json")
    if out.exists():
        raise UsageError(f"--out: {str(out)!r} exists; give a new file name (bench does not overwrite)")
    folder = next((p for p in out.absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out: cannot create {str(out)!r}: {str(folder)!r} is not a writable folder")


def _print_to_a_reader_that_may_leave(text: str) -> None:
    """Print; a reader that closes the pipe early (``pyro-vae list | head``) ends the output
    quietly instead of with a traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit


def _error(message: str) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pyro-vae``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        retain_freed_memory()
        if args.command == "list":
            _print_to_a_reader_that_may_leave(list_table())
        elif args.command == "bench":
            cmd_bench(args)
        else:
            cmd_run(args)
    except (PyroVAEError, UsageError) as e:
        return _error(str(e))
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
