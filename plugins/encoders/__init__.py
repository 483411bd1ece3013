"""First-party encoders plugins; see the entry points in setup.cfg."""
