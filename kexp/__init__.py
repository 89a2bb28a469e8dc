"""kexp: a command-line experiment runner for TensorFlow/Keras.

One YAML file says what data to load, how to preprocess it, which layers to
stack, how to compile and fit; kexp trains, evaluates and leaves a run folder.
The library never imports Click; TensorFlow is imported lazily.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
