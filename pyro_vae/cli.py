"""The ``pyro-vae`` command: list the experiments, run one.

``pyro-vae list`` shows each experiment with its summary and profiles; ``pyro-vae run NAME``
runs one and writes ``results.json``, ``results.md`` and its figures into ``--out``. A user
error (:class:`~pyro_vae.errors.PyroVAEError`, or bad usage) prints one line
``pyro-vae: error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from pyro_vae import experiments
from pyro_vae.errors import PyroVAEError

PROG = "pyro-vae"


class UsageError(Exception):
    """Bad command-line usage, reported like a :class:`PyroVAEError`."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting."""

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
        "--quiet",
        action="store_true",
        help="no progress output (by default progress is shown when stderr is a terminal)",
    )
    return parser


def list_table() -> str:
    """The experiments as an aligned text table: name, summary, profiles."""
    rows = [("NAME", "SUMMARY", "PROFILES")]
    for name in experiments.EXPERIMENTS:
        module = experiments.get_experiment(name)
        rows.append((name, module.SUMMARY, ", ".join(module.PROFILES)))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows)


def cmd_run(args: argparse.Namespace) -> None:
    """Run one experiment and print where its results are."""
    results, out_dir = experiments.run_experiment(
        args.name,
        profile=args.profile,
        out=args.out,
        seed=args.seed,
        device=args.device,
        progress=False if args.quiet else None,
    )
    held = sum(c.holds for c in results.claims)
    print(
        f"{results.experiment}/{results.profile} (seed {results.seed}): "
        f"{held} of {len(results.claims)} claims hold, {results.runtime_s:.1f} s"
    )
    print(f"results: {out_dir / 'results.md'}")
    print(f"out: {out_dir}")


def _error(message: str) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pyro-vae``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            print(list_table())
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
