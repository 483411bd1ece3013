"""First-party samplers plugins; see the entry points in setup.cfg."""
