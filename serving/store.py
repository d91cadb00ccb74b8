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

Version labels (``version_labels { key: "stable" value: 2 }`` in a models.config) name versions.
As in TF Serving (``server_core.cc``, ``UpdateModelVersionLabelMap``), a label is assigned only to
a version that is AVAILABLE, and a label already assigned is not moved to one that is not; a label
that cannot be assigned yet is assigned by the scan that finds its version AVAILABLE (TF Serving
refuses the whole config instead, unless ``--allow_version_labels_for_unavailable_models``, which
lets a new label name a version that is not loaded yet). A request with an unknown label is
INVALID_ARGUMENT ("Unrecognized servable version label"). ``--model_config_file_poll_wait_seconds``
re-reads the config file: models, policies and labels change without a restart.

At start-up, a model whose base path holds no version folder (for instance a version folder
given as the base path) or whose ``specific`` policy names versions that are not there gets a
warning on stderr saying what was found: the server keeps polling, as TF Serving does.
"""

import os
import pathlib
import sys
import threading
import time

from preprocessing.errors import DataError
from serving.config import check_unique
from serving.errors import invalid, not_found
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
        self.labels = {}  # label -> version, the assigned ones
        self.label_notes = {}  # label -> the last warning about it (printed once)


def found_text(base_path, limit=8):
    """What a base path holds, for a warning: its entries (first `limit`), or why it cannot be read."""
    base = pathlib.Path(base_path)
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in base.iterdir())
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if not names:
        return "is empty"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return "holds " + ", ".join(names[:limit]) + more


def startup_warnings(config):
    """Warnings for a model that will serve nothing as configured (said at start-up)."""
    base = pathlib.Path(config.base_path)
    found = candidates(base)
    out = []
    if not found:
        if (base / "saved_model.pb").is_file():
            out.append(
                f"model {config.name!r}: base path {base} holds saved_model.pb itself, so it is a version "
                f"folder, not a base path; serve its parent {base.parent} (whose integer subfolders are "
                "the versions). Nothing is served until a version folder appears under the base path."
            )
        else:
            out.append(
                f"model {config.name!r}: no version folders (integer names holding saved_model.pb) under "
                f"{base}, which {found_text(base)}; nothing is served until one appears."
            )
    if config.policy.kind == "specific":
        missing = sorted(set(config.policy.versions) - set(found))
        if missing:
            out.append(
                f"model {config.name!r}: the config names version(s) {missing} (specific policy) but "
                f"{base} has version(s) {sorted(found) or 'none'}; those named are served once they appear."
            )
    return out


class ModelStore:
    """Serves [ModelConfig]; `start()` loads what is there and starts hot reload."""

    def __init__(
        self,
        configs,
        poll_s=1.0,
        batching=None,
        warmup=False,
        settle_s=0.3,
        *,
        config_file=None,
        config_poll_s=0,
        allow_unavailable_labels=False,
    ):
        check_unique(configs)
        self.models = {c.name: _Model(c) for c in configs}
        self.poll_s = poll_s
        self.batching = batching
        self.warmup = warmup
        self.settle_s = settle_s
        self.config_file = config_file
        self.config_poll_s = config_poll_s
        self.allow_unavailable_labels = allow_unavailable_labels
        self.lock = threading.Lock()  # guards the servables and labels that requests read
        self.scan_lock = threading.RLock()  # one scan or reconfiguration at a time
        self.stopped = threading.Event()
        self.thread = None
        self.config_thread = None
        self.config_text = None
        self.warnings = []  # every warning printed, for tests and callers

    def warn(self, message):
        self.warnings.append(message)
        print(f"serve: warning: {message}", file=sys.stderr, flush=True)

    def start(self):
        """First scans (two, `settle_s` apart, to see which folders are complete), then hot reload."""
        for model in self.models.values():
            if not pathlib.Path(model.config.base_path).is_dir():
                raise DataError(f"model {model.config.name!r}: base path {model.config.base_path} is not a folder")
        for model in self.models.values():
            for message in startup_warnings(model.config):
                self.warn(message)
        if self.config_file is not None:
            try:
                self.config_text = pathlib.Path(self.config_file).read_text()
            except OSError:
                self.config_text = None
        self.scan()
        time.sleep(self.settle_s)
        self.scan()
        if self.poll_s and self.poll_s > 0:
            self.thread = threading.Thread(target=self._poll, name="model-store-poll", daemon=True)
            self.thread.start()
        if self.config_file is not None and self.config_poll_s and self.config_poll_s > 0:
            self.config_thread = threading.Thread(target=self._poll_config, name="model-config-poll", daemon=True)
            self.config_thread.start()
        return self

    def stop(self):
        self.stopped.set()
        for thread in (self.thread, self.config_thread):
            if thread is not None:
                thread.join(timeout=30)
        for model in self.models.values():
            for s in model.servables.values():
                s.unload()

    def _poll(self):
        while not self.stopped.wait(self.poll_s):
            try:
                self.scan()
            except Exception as err:  # a scan must never kill hot reload
                print(f"serve: scan failed: {err}", flush=True)

    def _poll_config(self):
        while not self.stopped.wait(self.config_poll_s):
            try:
                self.reload_config_file()
            except Exception as err:  # a bad file must never kill the poll
                print(f"serve: config reload failed: {err}", file=sys.stderr, flush=True)

    def reload_config_file(self):
        """Re-read ``config_file``; apply it if its text changed. A file that does not parse is reported
        and the running config kept (TF Serving's ``PollFilesystemAndReloadConfig``). Returns True if applied."""
        from serving.config import read_config_file

        try:
            text = pathlib.Path(self.config_file).read_text()
        except OSError as err:
            print(f"serve: cannot read {self.config_file}: {err}; keeping the running config", file=sys.stderr)
            return False
        if text == self.config_text:
            return False
        try:
            configs = read_config_file(self.config_file)
        except DataError as err:
            print(f"serve: {err}; keeping the running config", file=sys.stderr, flush=True)
            self.config_text = text  # said once per change of the file
            return False
        self.config_text = text
        self.reconfigure(configs)
        return True

    def reconfigure(self, configs):
        """Serve `configs` from now on: models added or removed, policies, base paths and labels changed."""
        check_unique(configs)
        with self.scan_lock:
            wanted = {c.name: c for c in configs}
            dropped = []
            with self.lock:
                for name in list(self.models):
                    if name not in wanted:
                        dropped.append(self.models.pop(name))
                for name, config in wanted.items():
                    model = self.models.get(name)
                    if model is None:
                        self.models[name] = _Model(config)
                    elif model.config.base_path != config.base_path:
                        dropped.append(model)
                        self.models[name] = _Model(config)
                    else:
                        model.config = config
            for model in dropped:
                for s in model.servables.values():
                    s.unload()
            for config in configs:
                if not pathlib.Path(config.base_path).is_dir():
                    self.warn(f"model {config.name!r}: base path {config.base_path} is not a folder")
            self.scan()

    def scan(self):
        """One pass over every base path: load newly complete versions, unload the ones dropped."""
        with self.scan_lock:
            for model in list(self.models.values()):
                self._scan_model(model)
                self._assign_labels(model)

    def _assign_labels(self, model):
        """Assign the config's labels to versions that are AVAILABLE (see the module docstring)."""
        with self.lock:
            states = {v: s.state for v, s in model.servables.items()}
            labels = dict(model.config.labels)
            for label in list(model.labels):
                if label not in labels:
                    del model.labels[label]
            notes = {}
            for label, version in labels.items():
                current = model.labels.get(label)
                if current == version:
                    continue
                if states.get(version) == "AVAILABLE":
                    model.labels[label] = version
                elif current is None and self.allow_unavailable_labels:
                    model.labels[label] = version
                elif current is not None:
                    notes[label] = (
                        f"model {model.config.name!r}: label {label!r} stays at version {current}: version "
                        f"{version} is not available (state {states.get(version, 'not loaded')})"
                    )
                else:
                    notes[label] = (
                        f"model {model.config.name!r}: label {label!r} is not assigned yet: version {version} is "
                        f"not available (state {states.get(version, 'not loaded')}; available: "
                        f"{sorted(v for v, st in states.items() if st == 'AVAILABLE') or 'none'})"
                    )
            fresh = {k: v for k, v in notes.items() if model.label_notes.get(k) != v}
            model.label_notes = notes
        for message in fresh.values():
            self.warn(message)

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

    def label_version(self, name, label):
        """The version a label names; INVALID_ARGUMENT for a label the model does not have (as TF Serving)."""
        model = self.models.get(name)
        with self.lock:
            version = None if model is None else model.labels.get(label)
        if version is None:
            raise invalid(f"Unrecognized servable version label: {label}")
        return version

    def servable(self, name, version=None, label=None):
        """The AVAILABLE servable of (name, version or label), the newest one without either; NOT_FOUND otherwise."""
        if version is not None and label is not None:
            raise invalid(f"Both model version ({version}) and model version label ({label}) cannot be supplied.")
        if label is not None:
            version = self.label_version(name, label)
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

    def metadata_servable(self, name, version=None, label=None):
        """The servable whose metadata is asked for: as `servable`, so a version that failed to load is
        NOT_FOUND, as in TF Serving (``get_model_metadata_impl.cc`` asks for an AVAILABLE servable);
        its load error is reported by status."""
        return self.servable(name, version, label)
