"""The one exception type for bad input data, so command lines can report it cleanly."""


class DataError(ValueError):
    """Input data is missing, malformed or physically impossible; the message names what and where."""
