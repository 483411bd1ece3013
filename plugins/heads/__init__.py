"""First-party heads plugins; see the entry points in setup.cfg."""
