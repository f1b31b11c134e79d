"""Every scenario of every feature file, run through the real ledger on PostgreSQL.

``bdd_features_base_dir`` in pyproject.toml is taken relative to the rootdir, so "." is the whole
``features/`` directory.
"""

from pytest_bdd import scenarios

scenarios(".")
