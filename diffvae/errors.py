"""The exceptions that user-facing code raises: bad input, and use before fitting."""


class InputError(ValueError):
    """Raised when data, a file or an option given by the user cannot be used.

    The message always names the problem (file, shape, gene, value) so that the command-line
    tools can print it as one line instead of a traceback.
    """


class NotFittedError(RuntimeError):
    """Raised when an estimator is used before ``fit`` (as scikit-learn's ``NotFittedError``)."""


class TrainingError(InputError):
    """Raised when training goes non-finite (diverges): nothing is kept, and the message says
    which setting to change."""
