"""What the client holds in the analysis after the per-star steps, local vs partitioned.

    python bench/partitioned_analysis_memory.py [N_STARS] [N_PARTITIONS]

A synthetic final catalogue (the columns of the per-star chain's output) is
made on the workers of a LocalCluster (2 single-threaded processes), partition
by partition, and persisted there: the client never holds it.  Then, in one
process, side by side:

- ``azimuthal_analysis_partitioned`` on the Dask DataFrame: the client's
  peak of traced allocations (tracemalloc: numpy and pandas buffers);
- ``azimuthal_analysis`` on the same catalogue as an astropy Table in memory
  (computed to the client, sorted by source_id): the peak above the table.

Both are printed in bytes per star of the |Z| < zmax selection and of the
whole catalogue, with their fits' slopes (the same bits when the
selections agree).
"""

import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd


def make_partition(i, n, seed=1):
    """Partition i of a final catalogue: n stars, kpc, rad, dex."""
    rng = np.random.default_rng([seed, i])
    R = rng.uniform(5.0, 13.0, n)
    phi = rng.uniform(-0.6, 0.6, n)
    z = rng.normal(0.0, 0.5, n)
    feh = 0.3 - 0.06 * R + 0.03 * np.cos(4 * phi) + rng.normal(0.0, 0.1, n)
    return pd.DataFrame(
        {
            "source_id": (np.arange(n, dtype=np.int64) * 1009 + i) * 7919,
            "x": -R * np.cos(phi),
            "y": R * np.sin(phi),
            "z": z,
            "R": R,
            "phi": phi,
            "absz": np.abs(z),
            "R_err": np.full(n, 0.05),
            "z_err": np.full(n, 0.02),
            "feh_used": feh,
            "feh_used_err": np.full(n, 0.05),
            "p_thin": rng.uniform(0.5, 1.0, n),
        }
    )


def main(n_stars=400_000, n_parts=8):
    import dask.dataframe as dd
    from astropy.table import Table
    from distributed import Client, LocalCluster

    from fastgrad.pipeline.config import load_config
    from fastgrad.pipeline.partitioned_analysis import azimuthal_analysis_partitioned
    from fastgrad.pipeline.run import azimuthal_analysis, sample_config

    cfg = sample_config(
        load_config(
            {
                "fit": {"n_walkers": 8, "n_steps": 200, "burn": 100},
                "azimuthal": {"n_permutations": 99},
            }
        ),
        "giants",
    )
    per = n_stars // n_parts
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster),
    ):
        frame = dd.from_map(make_partition, range(n_parts), n=per).persist()
        warnings.simplefilter("ignore")
        tracemalloc.start()
        t0 = time.perf_counter()
        part = azimuthal_analysis_partitioned(frame, cfg, n_threads=1)
        t_part = time.perf_counter() - t0
        _, peak_part = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        df = frame.compute()
    n_sel = len(part["selection"])
    table = Table.from_pandas(df.sort_values("source_id", kind="stable"))
    del df
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    local = azimuthal_analysis(table, cfg, n_threads=1)
    t_local = time.perf_counter() - t0
    _, peak_local = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = per * n_parts
    print(
        f"{n:,} stars in {n_parts} partitions, {n_sel:,} with |Z| < {cfg['azimuthal']['zmax']} kpc"
    )
    print(f"catalogue as a Table on the client: {table.as_array().nbytes / n:.0f} bytes a star")
    for name, peak, t in (
        ("partitioned (client)", peak_part, t_part),
        ("local (above the table)", peak_local - base, t_local),
    ):
        print(
            f"{name:26s} peak {peak / 2**20:8.1f} MiB = {peak / n_sel:6.1f} B per selected star "
            f"= {peak / n:6.1f} B per star; {t:6.1f} s"
        )
    print(
        "slopes identical:",
        part["fit"].slope == local["fit"].slope,
        "; map p-values identical:",
        np.array_equal(
            np.ma.filled(part["residual_map"].p_value, 0),
            np.ma.filled(local["residual_map"].p_value, 0),
        ),
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
