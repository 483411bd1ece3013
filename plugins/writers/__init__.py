"""Output writers: each module registers one format in `WRITERS`."""
