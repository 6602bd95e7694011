"""A tiny experiment that follows the contract of :mod:`pyro_vae.experiments`, for the tests.

It trains nothing: it draws one random number (so that the seed is visible), writes a 1×1 PNG
and returns a :class:`~pyro_vae.results.Results` with one claim that holds and one that does not.
"""

import dataclasses
import pathlib
import struct
import zlib

import torch

from pyro_vae.results import Claim, Results

NAME = "fake"
SUMMARY = "a test double: no training, one figure, two claims"


@dataclasses.dataclass
class Config:
    seed: int = 0
    steps: int = 1


PROFILES = {"smoke": Config(steps=1), "default": Config(steps=2), "paper": Config(steps=3)}

#: The arguments of the last call of :func:`run`, for the tests to inspect.
LAST_CALL: dict = {}


def _png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1×1, 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")


def run(config: Config, out_dir: pathlib.Path, progress: bool = True, device: str = "cpu") -> Results:
    LAST_CALL.update(config=config, out_dir=out_dir, progress=progress, device=device)
    draw = torch.rand(()).item()  # depends on the seed the runner set
    (out_dir / "figure.png").write_bytes(_png_1x1())
    claims = [
        Claim("steps is positive", None, str(config.steps), config.steps > 0),
        Claim("the draw exceeds one", "> 1", f"{draw:.3f}", draw > 1),
    ]
    return Results(
        experiment=NAME,
        profile=next(k for k, v in PROFILES.items() if v.steps == config.steps),
        seed=config.seed,
        settings=dataclasses.asdict(config),
        metrics={"draw": draw},
        claims=claims,
        figures=["figure.png"],
        runtime_s=0.0,
    )
