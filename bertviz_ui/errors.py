"""Domain errors: the messages a user sees when input or a model can't be used."""


class BertvizError(Exception):
    """Base class: its message is safe and meant to be shown to the user."""


class BadInput(BertvizError):
    """The user's input (text, number, model name) can't be processed as given."""


class ModelUnavailable(BertvizError):
    """A model can't be loaded: not found, not a model, wrong kind, or the Hub is unreachable."""
