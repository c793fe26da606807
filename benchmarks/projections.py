"""Projection speed: fast Fastfood and CSR sparse products against the straightforward versions.

    python benchmarks/projections.py [--threads 1] [--quick] [--compile] [--json FILE]

Sections (all times are medians of interleaved rounds, ratios measured in this same run):

* ``fwht``: the Walsh–Hadamard transform of 1.7M values as [k, n] blocks (n = 1024, 8192):
  Kronecker-GEMM ``rlsub.projections.fwht.fwht`` vs the reshape/stack butterfly, an in-place butterfly,
  the ``hadamard-transform`` package (if installed) and ``torch.compile`` of the butterfly
  (``--compile`` only: compiling takes minutes on 2 cores).
* ``fastfood``: P θ (forward) and P θ + Pᵀ g (forward+backward) at D = 1.7M (Nature-CNN size),
  d ∈ {1000, 6000}, one θ and a population of 64, vs ``fastfood_reference`` (whole-tensor
  butterfly Fastfood with autograd). For the population the reference runs member by member:
  batched it is slower still (measured 18-50 s per call, 2.4 GB) and would dominate the run.
* ``sparse``: the same for the sparse projection, CSR products vs the former gather/index_add.
* ``memory``: structure bytes of Fastfood / sparse / dense at those sizes.
* ``rule``: forward+backward of dense vs Fastfood vs sparse over a (D, d) grid, for choosing the
  default projection.
* ``gpu``: Fastfood on CUDA, when there is a device (else a 'skipped' line).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

import torch
from common import Result, bench_main, interleaved, skipped

from rlsub.projections import DenseProjection, FastfoodProjection, SparseProjection
from rlsub.projections.dense import MAX_DENSE_BYTES
from rlsub.projections.fwht import fwht, fwht_reference

#: Nature-CNN (Atari DQN) parameter count used by the issue: the large-D case.
D_LARGE = 1_700_000
#: Above this a dense P is not built in the benchmark (memory of a shared machine).
DENSE_BENCH_BYTES = 512 * 1024**2


def fwht_inplace(x: torch.Tensor) -> torch.Tensor:
    """Butterfly FWHT done in place on a copy of x (one temporary per level): an option measured."""
    x = x.clone()
    n = x.shape[-1]
    h = 1
    while h < n:
        v = x.view(-1, n // (2 * h), 2, h)
        a, b = v[:, :, 0], v[:, :, 1]
        t = a - b
        a.add_(b)
        b.copy_(t)
        h *= 2
    return x


def bench_fwht(args, results: list[Result]) -> None:
    total = 1 << 14 if args.quick else D_LARGE
    for n in (1024, 8192) if not args.quick else (256,):
        k = math.ceil(total / n)
        x = torch.randn(k, n)
        case = f"[{k},{n}]"
        variants: dict[str, Callable[[], object]] = {
            "ours": lambda: fwht(x),
            "butterfly": lambda: fwht_reference(x),
            "inplace": lambda: fwht_inplace(x),
        }
        for bits in (3, 5):
            variants[f"gemm{1 << bits}"] = (lambda b: lambda: fwht(x, factor_bits=b))(bits)
        try:
            from hadamard_transform import hadamard_transform  # type: ignore[import-not-found]

            variants["hadamard-transform"] = lambda: hadamard_transform(x)
        except ImportError:
            results.append(skipped("fwht", case, "hadamard-transform not installed (pip install hadamard-transform)"))
        if args.compile:
            compiled = torch.compile(fwht_reference, dynamic=False)
            variants["compiled-butterfly"] = lambda: compiled(x)
        times = interleaved(variants, args.rounds)
        for name, t in times.items():
            if name == "ours":
                continue
            results.append(Result("fwht", case, "fwht (16-GEMMs) vs " + name, "ms", times["ours"] * 1e3, name, t * 1e3))
        if not args.compile:
            results.append(skipped("fwht", case, "torch.compile not measured (pass --compile; compiling takes minutes)"))


def _fb(fn: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, g: torch.Tensor) -> Callable[[], None]:
    """Forward then backward with a fixed output gradient g (so only the projection is timed)."""

    def run() -> None:
        t = theta.detach().requires_grad_()
        fn(t).backward(g)

    return run


def _fwd(fn: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return fn(theta)

    return run


def _per_member(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The reference applied one θ at a time (its cheapest use for a population)."""
    return lambda th: torch.stack([fn(t) for t in th])


def bench_projection(kind: str, args, results: list[Result]) -> None:
    D = 20_000 if args.quick else D_LARGE
    dims = (100, 600) if args.quick else (1000, 6000)
    pops = (1, 4) if args.quick else (1, 64)
    cls = FastfoodProjection if kind == "fastfood" else SparseProjection
    for d in dims:
        P = cls(D, d, seed=0)
        gen = torch.Generator().manual_seed(0)
        if D * d * 4 > min(MAX_DENSE_BYTES, DENSE_BENCH_BYTES):
            results.append(skipped(kind, f"D={D} d={d}", f"dense baseline: D·d = {D * d * 4 / 2**30:.1f} GiB does not fit"))
        for pop in pops:
            theta = torch.randn(pop, d, generator=gen) if pop > 1 else torch.randn(d, generator=gen)
            g = torch.randn(*theta.shape[:-1], D, generator=gen)
            case = f"D={D} d={d} pop={pop}"
            ref = P.forward_reference
            ref_name = "reference"
            if pop > 1 and kind == "fastfood":
                ref, ref_name = _per_member(P.forward_reference), "reference per member"
            heavy = pop > 1 and not args.quick
            rounds = args.heavy_rounds if heavy else args.rounds
            t = interleaved({"ours": _fwd(P, theta), "ref": _fwd(ref, theta)}, rounds, warmup=not heavy)
            target = 3.0 if (kind == "fastfood" and pop == 1) else None
            results.append(Result(kind, case, "forward", "ms", t["ours"] * 1e3, ref_name, t["ref"] * 1e3, target=target))
            t = interleaved({"ours": _fb(P, theta, g), "ref": _fb(ref, theta, g)}, rounds, warmup=not heavy)
            results.append(Result(kind, case, "forward+backward", "ms", t["ours"] * 1e3, ref_name, t["ref"] * 1e3, target=target))
        # Structure memory, in floats of D (target for Fastfood: <= 2 D floats).
        dense_bytes = D * d * 4
        results.append(
            Result(
                kind,
                f"D={D} d={d}",
                "structure bytes (vs dense P)",
                "B",
                float(P.structure_bytes()),
                "dense",
                float(dense_bytes),
                note=f"{P.structure_bytes() / (4 * D):.2f} D floats",
                extra={"D_floats": P.structure_bytes() / (4 * D)},
            )
        )
        print(f"  {kind} D={D} d={d}: structure {P.structure_bytes() / (4 * D):.2f} D floats", flush=True)
        del P


def bench_rule(args, results: list[Result]) -> None:
    """Dense vs Fastfood vs sparse, forward+backward, over a small (D, d) grid (on ``--device``)."""
    dev = torch.device(getattr(args, "device", "cpu"))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    grid_D = (4_610, 20_000) if args.quick else (4_610, 50_000, 300_000)
    grid_d = (10, 100) if args.quick else (10, 100, 1000)
    pops = (1, 8) if args.quick else (1, 64)
    for D in grid_D:
        for d in grid_d:
            if d > D:
                continue
            projs = {"fastfood": FastfoodProjection(D, d, 0).to(dev), "sparse": SparseProjection(D, d, 0).to(dev)}
            fits = D * d * 4 <= DENSE_BENCH_BYTES
            if fits:
                projs["dense"] = DenseProjection(D, d, 0).to(dev)
            for pop in pops:
                theta = torch.randn(pop, d, device=dev)
                g = torch.randn(pop, D, device=dev)
                fns = {k: _fb(p, theta, g) for k, p in projs.items()}
                times = interleaved({k: (lambda f=f: (f(), sync())) for k, f in fns.items()}, args.rounds)
                case = f"D={D} d={d} pop={pop}" + ("" if dev.type == "cpu" else f" {dev.type}")
                best = min(times, key=times.get)
                for k in ("fastfood", "sparse"):
                    results.append(
                        Result(
                            "rule",
                            case,
                            f"fwd+bwd {k} vs dense",
                            "ms",
                            times[k] * 1e3,
                            "dense" if fits else "",
                            times["dense"] * 1e3 if fits else None,
                            note=f"fastest: {best}",
                            extra={"fastest": best, "times_ms": {n: v * 1e3 for n, v in times.items()}},
                        )
                    )
                print(f"  rule {case}: " + ", ".join(f"{n} {v * 1e3:.2f} ms" for n, v in times.items()) + f" -> {best}", flush=True)


def bench_gpu(args, results: list[Result]) -> None:
    if not torch.cuda.is_available():
        results.append(skipped("gpu", "fastfood/sparse", "no CUDA device"))
        return
    dev = torch.device("cuda")
    D = 20_000 if args.quick else D_LARGE
    for kind, cls in (("fastfood", FastfoodProjection), ("sparse", SparseProjection)):
        for d in (100,) if args.quick else (1000, 6000):
            P = cls(D, d, 0).to(dev)
            for pop in (1, 64):
                theta = torch.randn(pop, d, device=dev)
                g = torch.randn(pop, D, device=dev)

                def sync(f: Callable[[], object]) -> Callable[[], None]:
                    return lambda: (f(), torch.cuda.synchronize())

                t = interleaved({"fwd": sync(_fwd(P, theta)), "fwd ref": sync(_fwd(P.forward_reference, theta)),
                                 "fb": sync(_fb(P, theta, g)), "fb ref": sync(_fb(P.forward_reference, theta, g))}, args.rounds)
                case = f"{kind} D={D} d={d} pop={pop}"
                # Issue target on an H200: Fastfood population-of-64 forward >= 4x the straightforward version.
                target = 4.0 if kind == "fastfood" and pop == 64 else None
                results.append(Result("gpu", case, "forward (cuda)", "ms", t["fwd"] * 1e3, "reference", t["fwd ref"] * 1e3, target=target))
                results.append(Result("gpu", case, "forward+backward (cuda)", "ms", t["fb"] * 1e3, "reference", t["fb ref"] * 1e3))


SECTIONS = ("fwht", "fastfood", "sparse", "rule", "gpu")


def run(args) -> list[Result]:
    results: list[Result] = []
    only = set(str(getattr(args, "only", None) or ",".join(SECTIONS)).split(","))
    if only - set(SECTIONS):
        raise SystemExit(f"error: unknown section(s) {', '.join(sorted(only - set(SECTIONS)))}; choose from {', '.join(SECTIONS)}")
    for name, fn in (
        ("fwht", bench_fwht),
        ("fastfood", lambda a, r: bench_projection("fastfood", a, r)),
        ("sparse", lambda a, r: bench_projection("sparse", a, r)),
        ("rule", bench_rule),
        ("gpu", bench_gpu),
    ):
        if name not in only:
            continue
        print(f"[projections] {name} ...", flush=True)
        fn(args, results)
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: stable on a shared box)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the light cases")
    p.add_argument("--heavy-rounds", type=int, default=1, help="rounds of the population cases at D=1.7M")
    p.add_argument("--compile", action="store_true", help="also time torch.compile of the butterfly FWHT")
    p.add_argument("--device", default="cpu", help="device of the 'rule' section (the other sections are CPU or CUDA by design)")
    p.add_argument("--only", help=f"comma-separated sections to run ({', '.join(SECTIONS)}; default all)")
    p.add_argument("--json", help="write the results here")


def main(argv: list[str] | None = None) -> int:
    return bench_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
