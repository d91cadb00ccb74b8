"""The shard cache of the generator.

Work is cut into shards of a fixed number of jets; shard i is seeded from
``SeedSequence(seed).spawn`` (``shard_seeds``), so the output depends on (process, options,
n_jets, seed, shard size) and not on the number of worker processes. A finished shard is saved
as an ``.npz`` file named by its index, size and ``shard_key`` (a hash of everything its content
depends on), so an interrupted run, started again with the same arguments, only generates the
missing shards and never reuses stale ones.
"""

import dataclasses
import errno
import hashlib
import io
import json
import os
import pathlib
import zipfile

import numpy as np

from preprocessing.events.processes import COMMON_SETTINGS
from preprocessing.jets import observables

SHARD_FORMAT = 1  # bump when the content of a shard file changes meaning


def shard_seeds(seed, n_shards):
    """Pythia seeds (1 .. 9e8) for shards 0..n-1; shard i's seed does not depend on n_shards."""
    children = np.random.SeedSequence(seed).spawn(n_shards)
    return [int(c.generate_state(1)[0] % 900_000_000) + 1 for c in children]


def shard_key(process, sel, seed, shard_jets, batch_events):
    """Hash of everything a shard's content depends on, so stale shards are never reused."""
    spec = {
        "settings": list(COMMON_SETTINGS + process.settings),
        "matching": process.matching,
        "lhe": list(process.lhe),
        "selection": dataclasses.asdict(sel),
        "seed": seed,
        "shard_jets": shard_jets,
        "batch_events": batch_events,
        "format": SHARD_FORMAT,
        "observables": observables.OBSERVABLES_VERSION,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def shard_path(cache_dir, index, size, key):
    """The file of shard `index` holding `size` jets, for the shard key `key`."""
    return pathlib.Path(cache_dir) / f"shard-{index:06d}-{size}-{key}.npz"


def save_shard(path, arrays, n_events):
    """Write one shard atomically (a killed worker leaves at most a stray temporary file). A failed
    write (disk full, file too large) removes the temporary file and is an OSError naming `path`."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    # the archive is built in memory and written at once: a zipfile that met a failed write would
    # try to write again when garbage-collected ("Exception ignored in ZipFile.__del__")
    archive = io.BytesIO()
    np.savez(archive, __n_events__=np.int64(n_events), **arrays)
    try:
        with open(tmp, "wb") as f:
            f.write(archive.getbuffer())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno or errno.EIO, err.strerror or str(err), str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_shard(path):
    """(arrays, n_events) of a finished shard, or None if it cannot be read."""
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files if k != "__n_events__"}
            return arrays, int(z["__n_events__"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # damaged (e.g. a disk filled up): the shard is generated again


def shard_cache_dir(out):
    """The hidden sibling folder keeping finished shards of `out` until it is written."""
    out = pathlib.Path(out)
    return out.parent / f".{out.name}.shards"
