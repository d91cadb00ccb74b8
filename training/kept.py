"""A trained model whose export could not be written (issue 27, class 4): kept, and exported by a rerun.

When ``training.fit`` cannot write its export (a full disk, a file size limit, a read-only or
unwritable folder: ``environmental``), the export's temporary folder is removed (no version folder
appears, ``training.export``) and the trained members are written beside the run's checkpoints, to
``<export-dir>/.runs/<model>-trained-<digest>/member<k>-seed<s>.pkl`` (``training.members.MemberResult``:
the weights with the fitted scalers and the calibration, the history, the stopping record). The
digest names exactly this training (settings, seeds, data, split and code version, as
``training.members.ensemble_keep``), so the same command run again finds the members, exports them
without training and removes the folder. Rows streamed from disk cannot be vouched for: their
members go to ``<model>-trained-<stamp>-<pid>`` and are rebuilt with ``training.members.rebuild``.
"""

import errno
import os
import pathlib
import pickle
import shutil

# failed writes that are the machine's, not the code's: the export is reported in one line
ENVIRONMENTAL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EROFS, errno.EIO, errno.EPERM)


def environmental(err):
    """Why a write failed (e.g. 'No space left on device'), in one line, when `err` is the machine's
    doing, else None.

    TensorFlow reports a failed write as an OpError (ENOSPC: ResourceExhaustedError, EFBIG:
    OutOfRangeError) whose message ends with the system's text; Python raises OSError with an
    errno; h5py an OSError whose several-line text holds the system's text."""
    code = getattr(err, "errno", None)
    if isinstance(err, OSError) and code in ENVIRONMENTAL:
        return os.strerror(code)
    text = str(err.strerror or err) if isinstance(err, OSError) else getattr(err, "message", None)
    if not isinstance(text, str):
        return None
    for code in ENVIRONMENTAL:
        if os.strerror(code) in text:
            return os.strerror(code)
    if isinstance(err, OSError):  # another errno: the system's text, on one line
        return " ".join(text.split()) or type(err).__name__
    return None


def folder(root, settings, seeds, inputs, split, targets):
    """The folder for this training's kept members, or None where its rows are read from disk."""
    from training.members import ensemble_keep

    arrays = [inputs.arrays, inputs.training, inputs.labels, [split.train, split.validation, split.test], targets]
    keep = ensemble_keep(root, settings, seeds, arrays)
    return None if keep is None else keep.with_name(keep.name.replace("-members-", "-trained-", 1))


def files(keep, seeds):
    return [pathlib.Path(keep) / f"member{k}-seed{seed}.pkl" for k, seed in enumerate(seeds)]


def load(keep, settings, seeds):
    """The pipeline.TrainedMembers kept in `keep` by an earlier run, or None when not all are there."""
    from training.members import rebuild

    paths = files(keep, seeds)
    if not all(p.is_file() for p in paths):
        return None
    return [rebuild(settings, seed, pickle.loads(p.read_bytes())) for seed, p in zip(seeds, paths)]


def keep(keep_dir, members, seeds):
    """Write `members` (pipeline.TrainedMembers) to `keep_dir`, each file whole or not at all."""
    from training.members import MemberResult, _plain

    keep_dir = pathlib.Path(keep_dir)
    keep_dir.mkdir(parents=True, exist_ok=True)
    for member, path in zip(members, files(keep_dir, seeds)):
        result = MemberResult(
            [w.copy() for w in member.model.get_weights()],
            member.history,
            member.seconds,
            member.stopping,
            (),
            _plain(member.model.get_build_config()),
        )
        part = path.with_suffix(".part")
        try:
            part.write_bytes(pickle.dumps(result))
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return keep_dir


def remove(keep_dir):
    if keep_dir is not None:
        shutil.rmtree(keep_dir, ignore_errors=True)
