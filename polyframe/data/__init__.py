"""Data: corpus sources, caching, splitting and the tf.data pipeline."""
