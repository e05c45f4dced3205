"""The marker of modules whose arrays are fixed data (buffers), not trainable parameters."""

import equinox as eqx


class AbstractBuffer(eqx.Module):
    """A module whose arrays are fixed data: frequencies, normalisation statistics.

    `sciml.train.trainable` leaves every array under such a module out of the
    parameters, so an optimizer never sees it (decoupled weight decay would shrink it
    even with a zero gradient). A layer marks its own buffers by subclassing this.
    """
