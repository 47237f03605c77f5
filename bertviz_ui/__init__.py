"""bertviz_ui: a web app that shows BERT at work on your own text."""

__version__ = "0.1.0"
