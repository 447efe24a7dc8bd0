"""The one exception type that user-facing code raises for bad input."""


class InputError(ValueError):
    """Raised when data, a file or an option given by the user cannot be used.

    The message always names the problem (file, shape, gene, value) so that the command-line
    tools can print it as one line instead of a traceback.
    """
