"""The one error type explainr raises on purpose."""


class ExplainrError(Exception):
    """Base of every error explainr raises on purpose.

    The message says what was found and what to do about it.

    >>> try:
    ...     raise ExplainrError("no recurrent module found")
    ... except ExplainrError as e:
    ...     str(e)
    'no recurrent module found'
    """


class ModelError(ExplainrError, RuntimeError):
    """The user's model failed when explainr called it; the message says on what input.

    A `RuntimeError` too, so code that caught the model's own runtime errors still does.
    """


class ExplainrTypeError(ExplainrError, TypeError):
    """An argument of the wrong type; the message names it, the type received and what to pass.

    A `TypeError` too, as Python code expects for a wrong type.

    >>> issubclass(ExplainrTypeError, TypeError) and issubclass(ExplainrTypeError, ExplainrError)
    True
    """


class ExplainrValueError(ExplainrError, ValueError):
    """An argument of the right type but a wrong value (NaN, out of range, too large); the
    message names it, the value and the values allowed.

    A `ValueError` too, as Python code expects for a wrong value.

    >>> issubclass(ExplainrValueError, ValueError) and issubclass(ExplainrValueError, ExplainrError)
    True
    """


class ExplainrWarning(UserWarning):
    """A result was computed but may mislead; the message says why and what to try."""


def first_line(error: BaseException) -> str:
    """``"TypeName: first line of the message"``, for one-line error reports."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
