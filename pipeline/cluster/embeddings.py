"""Embeddings learned by neural networks, as scikit-learn transformers (TensorFlow imported only when fitting).

:class:`SequenceAutoencoder` compresses a (customers x periods x channels) array through a GRU/LSTM bottleneck;
:class:`TableRecurrentEncoder` reads the standardised columns of a customer table as a sequence (one column per
step) through a GRU/LSTM, and :class:`DenseAutoencoder` compresses the same row through dense layers.
``transform`` returns the bottleneck vectors, which K-Means then clusters; :data:`TABLE_ENCODERS` names the table
encoders by method key. Every estimator trains with :func:`_train` (seed fixed, optional progress per epoch).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from pipeline.config import SEED, SequenceConfig, TableEmbeddingConfig
from pipeline.errors import DataError
from pipeline.lazy import keras as lazy_keras
from pipeline.params import keep_params

__all__ = ["Progress", "SequenceAutoencoder", "TableRecurrentEncoder", "DenseAutoencoder", "TABLE_ENCODERS",
           "table_encoder"]

#: Progress callback: (fraction done in [0, 1], message) — fits ``st.progress(value, text=...)``.
Progress = Callable[[float, str], None]

_DEFAULTS = SequenceConfig()
_TABLE = TableEmbeddingConfig()


def _train(model, inputs: np.ndarray, targets: np.ndarray, epochs: int, batch_size: int,
           progress: Progress | None) -> list[float]:
    """Fit a compiled Keras model quietly; ``progress(fraction, text)`` after each epoch; returns the loss history."""
    keras = lazy_keras()
    callbacks = []
    if progress is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: progress(
            (e + 1) / epochs, f"epoch {e + 1}/{epochs} · loss {logs.get('loss', float('nan')):.4f}")))
    hist = model.fit(inputs, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                     callbacks=callbacks)
    return [float(v) for v in hist.history["loss"]]


def _recurrent_layer(cell: str, where: str):
    keras = lazy_keras()
    if cell not in ("gru", "lstm"):
        raise DataError(f"{where}: cell {cell!r} unknown; use 'gru' or 'lstm'.")
    return keras.layers.GRU if cell == "gru" else keras.layers.LSTM


class SequenceAutoencoder(TransformerMixin, BaseEstimator):
    """Recurrent sequence autoencoder; ``transform`` returns the bottleneck embeddings.

    Encoder: GRU/LSTM(units) -> Dense(latent_dim) (the embedding). Decoder: RepeatVector -> GRU/LSTM(units,
    sequences) -> Dense(channels) per step. Loss: mean squared reconstruction error.
    """

    def __init__(self, cell: str = _DEFAULTS.cell, units: int = _DEFAULTS.units,
                 latent_dim: int = _DEFAULTS.latent_dim, epochs: int = _DEFAULTS.epochs,
                 batch_size: int = _DEFAULTS.batch_size, learning_rate: float = _DEFAULTS.learning_rate,
                 random_state: int = SEED):
        keep_params(self, locals())

    def _build(self, n_steps: int, n_channels: int):
        keras = lazy_keras()
        layers = keras.layers
        rnn = _recurrent_layer(self.cell, "sequences")
        inputs = keras.Input(shape=(n_steps, n_channels))
        code = layers.Dense(self.latent_dim, name="embedding")(rnn(self.units)(inputs))
        x = layers.RepeatVector(n_steps)(code)
        x = rnn(self.units, return_sequences=True)(x)
        outputs = layers.TimeDistributed(layers.Dense(n_channels))(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        return model, keras.Model(inputs, code)

    def fit(self, X: np.ndarray, y=None, progress: Progress | None = None) -> "SequenceAutoencoder":
        """Train on sequences ``X`` (customers x periods x channels); ``progress(fraction, text)`` per epoch."""
        X = np.asarray(X, dtype="float32")
        if X.ndim != 3 or len(X) < 2:
            raise DataError("sequences: need a (customers, periods, channels) array with at least 2 customers.")
        keras = lazy_keras()
        keras.utils.set_random_seed(self.random_state)
        self.model_, self.encoder_ = self._build(X.shape[1], X.shape[2])
        self.loss_history_ = _train(self.model_, X, X, self.epochs, self.batch_size, progress)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder_.predict(np.asarray(X, dtype="float32"), batch_size=1024, verbose=0),
                          dtype=float)

    def reconstruction_error(self, X: np.ndarray) -> np.ndarray:
        """Mean squared reconstruction error per customer."""
        X = np.asarray(X, dtype="float32")
        return ((self.model_.predict(X, batch_size=1024, verbose=0) - X) ** 2).mean(axis=(1, 2))


class _TableAutoencoder(TransformerMixin, BaseEstimator):
    """Shared fit/transform of the table encoders: rows of a standardised (customers x columns) matrix in,
    ``latent_dim`` bottleneck values out. Subclasses build the network (``_build``) and shape its input
    (``_inputs``); the decoder is Dense(hidden, relu) -> Dense(columns), the loss mean squared error."""

    _where = "table embeddings"

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return X

    def _body(self, inputs):
        raise NotImplementedError

    def _decoder(self, code):
        layers = lazy_keras().layers
        return layers.Dense(self.n_features_in_)(layers.Dense(self.hidden, activation="relu")(code))

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype="float32")
        if X.ndim != 2 or len(X) < 2 or X.shape[1] < 2:
            raise DataError(f"{self._where}: need a (customers, columns) matrix with at least 2 customers and "
                            "2 columns.")
        if not np.isfinite(X).all():
            raise DataError(f"{self._where}: the matrix has missing or infinite values; fill and standardise "
                            "the table first (prepare_matrix).")
        return X

    def fit(self, X: np.ndarray, y=None, progress: Progress | None = None) -> "_TableAutoencoder":
        """Train to reconstruct ``X``; ``progress(fraction, text)`` per epoch."""
        X = self._check(X)
        keras = lazy_keras()
        keras.utils.set_random_seed(self.random_state)
        self.n_features_in_ = X.shape[1]
        inputs = keras.Input(shape=self._inputs(X).shape[1:])
        code = keras.layers.Dense(self.latent_dim, name="embedding")(self._body(inputs))
        self.model_ = keras.Model(inputs, self._decoder(code))
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="mse")
        self.encoder_ = keras.Model(inputs, code)
        self.loss_history_ = _train(self.model_, self._inputs(X), X, self.epochs, self.batch_size, progress)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Bottleneck values (customers x ``latent_dim``)."""
        X = self._check(X)
        return np.asarray(self.encoder_.predict(self._inputs(X), batch_size=2048, verbose=0), dtype=float)

    def reconstruction_error(self, X: np.ndarray) -> np.ndarray:
        """Mean squared reconstruction error per customer."""
        X = self._check(X)
        return ((self.model_.predict(self._inputs(X), batch_size=2048, verbose=0) - X) ** 2).mean(axis=1)


class TableRecurrentEncoder(_TableAutoencoder):
    """GRU/LSTM reading a customer's standardised columns as a sequence (one column per step, one channel).

    Encoder: GRU/LSTM(units) -> Dense(latent_dim) (the embedding); decoder: Dense(hidden, relu) -> Dense(columns).
    The column order is the sequence order, as in the published studies that feed a table to a recurrent layer.
    """

    def __init__(self, cell: str = "gru", units: int = _TABLE.units, latent_dim: int = _TABLE.latent_dim,
                 hidden: int = _TABLE.hidden, epochs: int = _TABLE.recurrent_epochs,
                 batch_size: int = _TABLE.batch_size, learning_rate: float = _TABLE.learning_rate,
                 random_state: int = SEED):
        keep_params(self, locals())

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        return X[:, :, None]

    def _body(self, inputs):
        return _recurrent_layer(self.cell, self._where)(self.units)(inputs)


class DenseAutoencoder(_TableAutoencoder):
    """Dense autoencoder: Dense(hidden, relu) -> Dense(latent_dim) (the embedding) -> Dense(hidden, relu) ->
    Dense(columns)."""

    def __init__(self, hidden: int = _TABLE.hidden, latent_dim: int = _TABLE.latent_dim,
                 epochs: int = _TABLE.dense_epochs, batch_size: int = _TABLE.batch_size,
                 learning_rate: float = _TABLE.learning_rate, random_state: int = SEED):
        keep_params(self, locals())

    def _body(self, inputs):
        return lazy_keras().layers.Dense(self.hidden, activation="relu")(inputs)


#: Table encoder keys -> label shown in comparison tables.
TABLE_ENCODERS: dict[str, str] = {"gru": "GRU encoder", "lstm": "LSTM encoder", "dense": "Dense autoencoder"}


def table_encoder(method: str, random_state: int = SEED,
                  config: TableEmbeddingConfig = _TABLE) -> _TableAutoencoder:
    """The unfitted encoder for a :data:`TABLE_ENCODERS` key, with the settings of ``config``."""
    if method not in TABLE_ENCODERS:
        raise DataError(f"table embeddings: method {method!r} unknown; choose from {', '.join(TABLE_ENCODERS)}.")
    if method == "dense":
        return DenseAutoencoder(config.hidden, config.latent_dim, config.dense_epochs, config.batch_size,
                                config.learning_rate, random_state)
    return TableRecurrentEncoder(method, config.units, config.latent_dim, config.hidden, config.recurrent_epochs,
                                 config.batch_size, config.learning_rate, random_state)
