"""Entry point: `python app.py [--tiny] [--port N] ...`; importing it gives `demo` (Hugging Face Spaces, tests)."""

import sys

from bertviz_ui.config import load_settings
from bertviz_ui.ui.app import build_demo, main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

demo = build_demo(load_settings())
