"""Embeddings learned by neural networks, as scikit-learn transformers (TensorFlow imported only when fitting).

:class:`SequenceAutoencoder` compresses a (customers x periods x channels) array through a GRU/LSTM bottleneck;
``transform`` returns the bottleneck vectors, which K-Means then clusters. Other learned representations of
customers (e.g. a recurrent or dense autoencoder over the standardised columns of a customer table) belong here as
further estimators with the same ``fit``/``transform``/``reconstruction_error`` shape.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from pipeline.config import SEED, SequenceConfig
from pipeline.errors import DataError
from pipeline.lazy import keras as lazy_keras

__all__ = ["Progress", "SequenceAutoencoder"]

#: Progress callback: (fraction done in [0, 1], message) — fits ``st.progress(value, text=...)``.
Progress = Callable[[float, str], None]

_DEFAULTS = SequenceConfig()


class SequenceAutoencoder(TransformerMixin, BaseEstimator):
    """Recurrent sequence autoencoder; ``transform`` returns the bottleneck embeddings.

    Encoder: GRU/LSTM(units) -> Dense(latent_dim) (the embedding). Decoder: RepeatVector -> GRU/LSTM(units,
    sequences) -> Dense(channels) per step. Loss: mean squared reconstruction error.
    """

    def __init__(self, cell: str = _DEFAULTS.cell, units: int = _DEFAULTS.units,
                 latent_dim: int = _DEFAULTS.latent_dim, epochs: int = _DEFAULTS.epochs,
                 batch_size: int = _DEFAULTS.batch_size, learning_rate: float = _DEFAULTS.learning_rate,
                 random_state: int = SEED):
        self.cell = cell
        self.units = units
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _build(self, n_steps: int, n_channels: int):
        keras = lazy_keras()
        layers = keras.layers
        if self.cell not in ("gru", "lstm"):
            raise DataError(f"sequences: cell {self.cell!r} unknown; use 'gru' or 'lstm'.")
        rnn = layers.GRU if self.cell == "gru" else layers.LSTM
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
        callbacks = []
        if progress is not None:
            epochs = self.epochs
            callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: progress(
                (e + 1) / epochs, f"epoch {e + 1}/{epochs} · loss {logs.get('loss', float('nan')):.4f}")))
        hist = self.model_.fit(X, X, epochs=self.epochs, batch_size=self.batch_size, shuffle=True,
                               verbose=0, callbacks=callbacks)
        self.loss_history_ = [float(v) for v in hist.history["loss"]]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder_.predict(np.asarray(X, dtype="float32"), batch_size=1024, verbose=0),
                          dtype=float)

    def reconstruction_error(self, X: np.ndarray) -> np.ndarray:
        """Mean squared reconstruction error per customer."""
        X = np.asarray(X, dtype="float32")
        return ((self.model_.predict(X, batch_size=1024, verbose=0) - X) ** 2).mean(axis=(1, 2))
