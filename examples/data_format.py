"""Write data files in the `sciml.data` layout, for `sciml fit`: imitate this script.

Run `python examples/data_format.py` (a second) to write two heat-equation datasets
under `runs/data_format/`, then fit and use surrogates on them:

    sciml fit runs/data_format/heat_pairs.npz --model fno --out runs/heat_pairs --set modes=16
    sciml predict runs/heat_pairs runs/data_format/heat_pairs.npz --out runs/heat_pairs/again.npz
    sciml fit runs/data_format/heat_trajectories.h5 --model resnet --out runs/heat_traj --set window=2

The physics: the 1D heat equation u_t = kappa u_xx on the periodic interval [0, 1),
solved exactly in Fourier space, u_hat_k(t) = u_hat_k(0) exp(-kappa (2 pi k)^2 t), from
random smooth initial conditions (eight Fourier modes with decaying amplitudes). The
diffusivity kappa varies from sample to sample and is stored as a parameter.

The layout (the full rules are in the `sciml.data` docstring): named float arrays,
the sample axis first and the channel axis LAST, one grid shared by all arrays.

- pairs (`heat_pairs.npz`): `inputs` [n, 64, 1] = u(x, 0), `outputs` [n, 64, 1] =
  u(x, T), `parameters` [n, 1] = kappa. A surrogate learns inputs -> outputs.
- trajectories (`heat_trajectories.h5`): `fields` [n, 11, 64, 1] = u at 11 times,
  `times` [11], `parameters` [n, 1]. A surrogate learns the next snapshot from the
  previous `window` ones and is rolled out in time.

Write the files with plain `numpy.savez(path, inputs=..., outputs=...)` or h5py
(`f.create_dataset("fields", data=...)`), or with `sciml.data.save`, which validates
first. Never store Python objects (they would need pickle, which sciml refuses).
"""

import sys
from pathlib import Path

import h5py
import numpy as np


def initial_conditions(rng: np.random.Generator, n: int, size: int, modes: int = 8) -> np.ndarray:
    """Random smooth periodic fields u(x, 0), shape [n, size]: random Fourier modes 1..modes."""
    k = np.arange(1, modes + 1)
    amplitude = rng.standard_normal((n, modes)) / k  # decaying spectrum: smooth fields
    phase = rng.uniform(0, 2 * np.pi, (n, modes))
    x = np.arange(size) / size
    return np.einsum("nk,nkx->nx", amplitude, np.cos(2 * np.pi * k[None, :, None] * x + phase[..., None]))


def heat_solution(u0: np.ndarray, kappa: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The exact periodic heat-equation solution, shape [n, len(times), size]."""
    size = u0.shape[-1]
    wavenumber = 2 * np.pi * np.fft.rfftfreq(size, d=1 / size)
    decay = np.exp(-kappa[:, None, None] * wavenumber[None, None] ** 2 * times[None, :, None])
    return np.fft.irfft(np.fft.rfft(u0)[:, None] * decay, n=size)


def heat_pairs(
    n: int = 200, size: int = 64, *, t_final: float = 0.005, kappa=(0.5, 2.0), seed: int = 0
) -> dict[str, np.ndarray]:
    """The pairs layout: u(x, 0) -> u(x, t_final), with kappa as a parameter."""
    rng = np.random.default_rng(seed)
    u0 = initial_conditions(rng, n, size)
    k = rng.uniform(*kappa, n)
    u_t = heat_solution(u0, k, np.array([t_final]))[:, 0]
    return {
        "inputs": u0[..., None].astype(np.float32),  # [n, size, 1]: channels last
        "outputs": u_t[..., None].astype(np.float32),
        "parameters": k[:, None].astype(np.float32),  # [n, 1], even for one parameter
    }


def heat_trajectories(
    n: int = 64, size: int = 64, n_times: int = 11, *, dt: float = 5e-4, kappa=(0.5, 2.0), seed: int = 1
) -> dict[str, np.ndarray]:
    """The trajectories layout: u(x, t_j) at `n_times` equally spaced times."""
    rng = np.random.default_rng(seed)
    u0 = initial_conditions(rng, n, size)
    k = rng.uniform(*kappa, n)
    times = dt * np.arange(n_times)
    u = heat_solution(u0, k, times)
    return {
        "fields": u[..., None].astype(np.float32),  # [n, n_times, size, 1]
        "times": times.astype(np.float32),  # [n_times], strictly increasing
        "parameters": k[:, None].astype(np.float32),
    }


def write_examples(directory: str | Path = "runs/data_format", **sizes) -> tuple[Path, Path]:
    """Writes `heat_pairs.npz` (plain NumPy) and `heat_trajectories.h5` (plain h5py)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pairs_path = directory / "heat_pairs.npz"
    np.savez(pairs_path, **heat_pairs(**sizes))
    traj_path = directory / "heat_trajectories.h5"
    with h5py.File(traj_path, "w") as f:
        for name, array in heat_trajectories(**sizes).items():
            f.create_dataset(name, data=array)
    return pairs_path, traj_path


def main(argv: list[str] | None = None) -> None:
    import sciml.data

    directory = Path((argv or sys.argv[1:] or ["runs/data_format"])[0])
    for path in write_examples(directory):
        # Loading validates keys, ranks, lengths, dtypes and values, as `sciml fit` will.
        with sciml.data.load(path) as data:
            print(f"{path}: {data.layout.describe()}")


if __name__ == "__main__":
    main()
