import os


# Set before JAX initialises its backends: CI has no accelerator, and the
# data-parallel tests spawn subprocesses with their own device count.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# In-process CLI runs would otherwise switch on the persistent compilation cache in
# ~/.cache: tests must not depend on (or leave behind) compilations of earlier runs.
os.environ["SCIML_NO_COMPILATION_CACHE"] = "1"

import jax
import jax.random as jr
import pytest


# Numerics tests compare against float64 references (finite differences,
# scipy), so run everything in double precision with strict rank promotion:
# an accidental broadcast between mismatched ranks is a bug, not a feature.
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def getkey():
    """Returns a function producing fresh, deterministic PRNG keys."""
    counter = iter(range(10**9))

    def _getkey():
        return jr.fold_in(jr.key(0), next(counter))

    return _getkey
