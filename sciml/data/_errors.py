"""`DataError`: the one exception type for data that does not follow the layout."""


class DataError(ValueError):
    """A data file or array that does not follow the `sciml.data` layout.

    A subclass of `ValueError`, so callers may catch either; the `sciml` command line
    catches this one to answer with a one-line message and exit code 2. Every message
    names the file (or `arrays`), the key and, for bad values, the first bad index.
    """
