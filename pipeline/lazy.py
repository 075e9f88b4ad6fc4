"""Heavy imports done on first use, never at app start.

TensorFlow adds ~4 s and hundreds of thousands of long-lived objects. After importing it the objects are moved
out of the garbage collector's sight (``gc.freeze``): Streamlit runs a full collection and Keras'
``clear_session`` after every script run, which otherwise costs ~0.2 s each, on every rerun of every page.
"""
from __future__ import annotations

import atexit
import gc
import logging
import os

__all__ = ["keras"]


def keras():
    """Keras 3 on the TensorFlow backend, imported quietly once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import sys

    first = "keras" not in sys.modules
    import keras as _keras

    if first:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        gc.collect()
        gc.freeze()
        atexit.register(gc.unfreeze)   # let the interpreter release everything normally at exit
    return _keras
