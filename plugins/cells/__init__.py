"""First-party cells plugins; see the entry points in setup.cfg."""
