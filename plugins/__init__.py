"""First-party polyframe plugins, installed as the package `polyframe_plugins`.

Each module registers its components when imported; `setup.cfg` lists every
module under the `polyframe.plugins` entry-point group, exactly as a
third-party package would.
"""
