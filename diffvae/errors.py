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


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside this package (as pandas does),
    so that a warning points at the user's line, however deep in the package it arose."""
    import inspect
    import warnings
    from pathlib import Path

    packages = tuple(str(Path(__file__).parents[1] / name) for name in ("diffvae", "graph_diffvae"))
    frame, level = inspect.currentframe(), 1
    while frame is not None and frame.f_code.co_filename.startswith(packages):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
