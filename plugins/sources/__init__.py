"""First-party sources plugins; see the entry points in setup.cfg."""
