"""Model families: each module registers one `SequenceModel` in `MODELS`."""
