"""polyframe: train and sample polyphonic music models with TensorFlow 2."""

__version__ = "0.1.0"
