"""Models by name, each a base path of integer version folders served under a version policy.

A poll thread (``--file_system_poll_wait_seconds``, 1 s by default) rescans every base path:

- only folders named by an integer and holding ``saved_model.pb`` are candidates; hidden
  folders (``.tmp-*`` of an export still being written) and anything else are never looked at;
- a candidate is loaded only once its files (names, sizes, modification times) are unchanged
  between two scans, so a version folder being copied in is not read half-written;
- the version policy (``latest{N}`` by default N = 1, ``all{}``, ``specific{}``) picks which
  complete versions to serve; versions it no longer picks, or whose folder is gone, are unloaded;
- a version that fails to load is reported by status with state END and its error, and is not
  retried until its files change; ``latest{N}`` then keeps serving the newest versions that load.
"""

import os
import pathlib
import threading
import time

from preprocessing.errors import DataError
from serving.config import check_unique
from serving.errors import ServingError, not_found
from serving.servable import Servable


def fingerprint(folder):
    """(relative path, size, mtime_ns) of every file under `folder`; None if it vanished meanwhile."""
    out = []
    try:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(root, f)
                st = os.stat(p)
                out.append((os.path.relpath(p, folder), st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return tuple(out)


def candidates(base_path):
    """{version: folder} of integer-named, non-hidden folders holding saved_model.pb."""
    try:
        entries = list(pathlib.Path(base_path).iterdir())
    except OSError:
        return {}
    return {int(p.name): p for p in entries if p.name.isdigit() and p.is_dir() and (p / "saved_model.pb").is_file()}


class _Model:
    def __init__(self, config):
        self.config = config
        self.servables = {}  # version -> Servable (AVAILABLE, LOADING, or END with an error)
        self.seen = {}  # version -> fingerprint at the previous scan


class ModelStore:
    """Serves [ModelConfig]; `start()` loads what is there and starts hot reload."""

    def __init__(self, configs, poll_s=1.0, batching=None, warmup=False, settle_s=0.3):
        check_unique(configs)
        self.models = {c.name: _Model(c) for c in configs}
        self.poll_s = poll_s
        self.batching = batching
        self.warmup = warmup
        self.settle_s = settle_s
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = None

    def start(self):
        """First scans (two, `settle_s` apart, to see which folders are complete), then hot reload."""
        for model in self.models.values():
            if not pathlib.Path(model.config.base_path).is_dir():
                raise DataError(f"model {model.config.name!r}: base path {model.config.base_path} is not a folder")
        self.scan()
        time.sleep(self.settle_s)
        self.scan()
        if self.poll_s and self.poll_s > 0:
            self.thread = threading.Thread(target=self._poll, name="model-store-poll", daemon=True)
            self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        for model in self.models.values():
            for s in model.servables.values():
                s.unload()

    def _poll(self):
        while not self.stopped.wait(self.poll_s):
            try:
                self.scan()
            except Exception as err:  # a scan must never kill hot reload
                print(f"serve: scan failed: {err}", flush=True)

    def scan(self):
        """One pass over every base path: load newly complete versions, unload the ones dropped."""
        for model in self.models.values():
            self._scan_model(model)

    def _scan_model(self, model):
        found = candidates(model.config.base_path)
        prints = {v: fingerprint(p) for v, p in found.items()}
        stable = {v for v, fp in prints.items() if fp is not None and model.seen.get(v) == fp}
        model.seen = prints
        failed = {
            v
            for v, s in model.servables.items()
            if s.state == "END" and s.error is not None and s.fingerprint == prints.get(v)
        }
        while True:  # a version that fails to load leaves its place to the next one the policy picks
            wanted = set(model.config.policy.choose(sorted(stable - failed)))
            new_failure = False
            for version in sorted(wanted, reverse=True):  # newest first: it serves "latest" soonest
                current = model.servables.get(version)
                if current is not None and current.state == "AVAILABLE":
                    continue
                servable = Servable(model.config.name, version, found[version], prints[version])
                with self.lock:
                    model.servables[version] = servable
                if not servable.load(self.batching, self.warmup):
                    failed.add(version)
                    new_failure = True
            if not new_failure:
                break
        for version, servable in list(model.servables.items()):
            gone = version not in found
            dropped = servable.state == "AVAILABLE" and version not in wanted
            changed = servable.state == "END" and servable.fingerprint != prints.get(version)  # retried once stable
            if gone or dropped or changed:
                with self.lock:
                    model.servables.pop(version, None)
                servable.unload()

    # -- lookups -------------------------------------------------------------------------------
    def _model(self, name, missing_message):
        model = self.models.get(name)
        if model is None:
            raise not_found(missing_message)
        return model

    def servable(self, name, version=None):
        """The AVAILABLE servable of (name, version), the newest one without a version; NOT_FOUND otherwise."""
        if version is None:
            model = self._model(name, f"Servable not found for request: Latest({name})")
            with self.lock:
                ready = [s for s in model.servables.values() if s.state == "AVAILABLE"]
            if not ready:
                raise not_found(f"Servable not found for request: Latest({name})")
            return max(ready, key=lambda s: s.version)
        model = self._model(name, f"Servable not found for request: Specific({name}, {version})")
        with self.lock:
            s = model.servables.get(int(version))
        if s is None or s.state != "AVAILABLE":
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return s

    def status(self, name, version=None):
        """[(version, state, ServingError or None)] of a model (or one version); NOT_FOUND if unknown."""
        model = self._model(name, f"Could not find any versions of model {name}")
        with self.lock:
            servables = sorted(model.servables.values(), key=lambda s: -s.version)
        if version is not None:
            servables = [s for s in servables if s.version == int(version)]
            if not servables:
                raise not_found(f"Could not find version {version} of model {name}")
        elif not servables:
            raise not_found(f"Could not find any versions of model {name}")
        return [(s.version, s.state, s.error) for s in servables]

    def metadata_servable(self, name, version=None):
        """Like `servable`, but a version that failed to load is reported with its error."""
        try:
            return self.servable(name, version)
        except ServingError:
            if version is not None and name in self.models:
                s = self.models[name].servables.get(int(version))
                if s is not None and s.error is not None:
                    raise ServingError(s.error.code, s.error.message) from None
            raise
