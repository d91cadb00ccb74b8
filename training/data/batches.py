"""The one batch source of training and validation: an explicit seeded permutation per epoch.

    source = BatchSource(x_train, y_train, batch_size=100, shuffle=True, seed=0)
    model.fit(source.dataset(epochs), steps_per_epoch=source.steps, epochs=epochs,
              validation_data=BatchSource(x_val, y_val, 100).dataset())

Epoch e visits the rows in the order ``numpy.random.default_rng([seed, e]).permutation(rows)``
(``shuffle=False``: in order), cut into batches of ``batch_size`` with a smaller last batch, as
Keras batches arrays. With ``full_batches=True`` the permutations run back to back and the stream
is cut into batches of exactly ``batch_size`` rows (one may span two permutations; an epoch is
still ``steps`` batches): for XLA-compiled models, which compile their step once per batch shape,
so that a smaller last batch would cost a second compilation of the training step. Their batches
also carry the batch size as a static dimension, so the step is traced with it known: the
ParticleNet-Lite step then runs about 20 % faster on 2 CPU cores than when traced with an unknown
batch dimension (alternated in one process: 709-762 against 540-619 jets/s).

Rows come from memory (arrays become tensors and each batch is one ``tf.gather`` in the tf.data
graph) or from disk (``training.data.row_cache.RowsView``: each batch is read with ``os.preadv`` in a
``tf.numpy_function``), so a model trained on rows in memory and the same model trained on the
same rows streamed from the on-disk cache see identical batches and end bit for bit alike.

Why not Keras' own ``shuffle=True``: for arrays Keras draws its permutation with
``tf.random.shuffle`` inside its data adapter, from TensorFlow's global seed and the adapter's op
counter; no source outside that adapter (a generator, a PyDataset, a tf.data pipeline reading a
file) can reproduce it, so the streamed path could never match the in-memory one. An explicit
permutation can be drawn anywhere and documents itself.

The training dataset holds every epoch's batches back to back (``epochs * steps`` elements, a
known cardinality) and ``fit`` gets ``steps_per_epoch=steps``: Keras then keeps one iterator across
epochs, so the epoch index is the position in the stream, not a counter that a callback or a
re-iteration would have to keep in step.
"""

import numpy as np

from models.base import n_rows


def _leaves(x):
    """({name: array or RowsView}, single): a dict of the inputs, and whether x was one array."""
    if isinstance(x, dict):
        return dict(x), False
    return {"": x}, True


class BatchSource:
    """Batches of rows of `x` (and `y`) in a seeded order per epoch.

    Args:
        x: the model inputs at the rows: an array, a RowsView, or a dict of them (plus any
            training-only arrays).
        y: (rows,) targets for supervised models, or None.
        batch_size: rows per batch; the last batch of an epoch may be smaller.
        shuffle: a fresh permutation each epoch (training); False keeps the rows in order
            (validation).
        seed: seed of the permutations.
        full_batches: every batch holds batch_size rows, the permutations back to back (training
            of XLA-compiled models: one batch shape, one compilation).
    """

    def __init__(self, x, y=None, batch_size=32, shuffle=False, seed=0, full_batches=False):
        self.x, self.y = x, y
        self.n = n_rows(x)
        if self.n == 0:
            raise ValueError("no rows to batch")
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.full_batches = bool(full_batches)
        self.steps = -(-self.n // self.batch_size)

    def order(self, epoch):
        """(rows,) the order in which epoch `epoch` visits the rows."""
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)

    def index_batches(self, epochs=1):
        """Every batch of row indices, epoch after epoch."""
        if self.full_batches:
            yield from self._full_index_batches(epochs)
            return
        for epoch in range(epochs):
            order = self.order(epoch)
            for start in range(0, self.n, self.batch_size):
                yield order[start : start + self.batch_size]

    def _full_index_batches(self, epochs):
        """epochs * steps batches of exactly batch_size rows cut from order(0), order(1), ... in turn."""
        pending, permutation = np.zeros(0, np.int64), 0
        for _ in range(epochs * self.steps):
            while len(pending) < self.batch_size:
                pending = np.concatenate([pending, self.order(permutation)])
                permutation += 1
            yield pending[: self.batch_size]
            pending = pending[self.batch_size :]

    def dataset(self, epochs=1):
        """A tf.data.Dataset of the batches of `epochs` epochs: x, or (x, y) with targets."""
        import tensorflow as tf

        from training.data.row_cache import RowsView

        # full batches have a static size (see the module's docstring)
        batch_shape = [self.batch_size] if self.full_batches else [None]
        indices = tf.data.Dataset.from_generator(
            lambda: self.index_batches(epochs), output_signature=tf.TensorSpec(batch_shape, tf.int64)
        )
        leaves, single = _leaves(self.x)
        if self.y is not None:
            leaves["__y__"] = self.y
        fetchers = {}
        for name, values in leaves.items():
            if isinstance(values, RowsView):
                fetchers[name] = _disk_fetcher(values)
            else:
                fetchers[name] = _memory_fetcher(tf.constant(np.asarray(values)))

        def fetch(index):
            out = {name: get(index) for name, get in fetchers.items()}
            y = out.pop("__y__", None)
            x = out[""] if single else out
            return x if y is None else (x, y)

        batches = indices.map(fetch)  # sequential: batches in order
        batches = batches.apply(tf.data.experimental.assert_cardinality(epochs * self.steps))
        return batches.prefetch(2)


def _memory_fetcher(tensor):
    import tensorflow as tf

    return lambda index: tf.gather(tensor, index)


def _disk_fetcher(view):
    import tensorflow as tf

    dtype = tf.as_dtype(view.dtype)
    row_shape = view.shape[1:]

    def fetch(index):
        out = tf.numpy_function(view.__getitem__, [index], dtype, stateful=False)
        out.set_shape((index.shape[0],) + tuple(row_shape))
        return out

    return fetch
