"""The Gradio Blocks app: header, one tab per registry entry, and how it is launched."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from bertviz_ui.config import Settings, load_settings
from bertviz_ui.models import build_cache
from bertviz_ui.models.cleanup import remove_stale_files
from bertviz_ui.render.html import tiny_banner_html
from bertviz_ui.tasks.comparison import TUTORIAL_TABLE
from bertviz_ui.ui import compare, queue
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import short_payload_errors
from bertviz_ui.ui.limits import RefuseLongUrls
from bertviz_ui.ui.permalink import link_bar, restore_on_load
from bertviz_ui.ui.sessions import SessionSweeper, configs_on_demand
from bertviz_ui.ui.tabs import TABS
from bertviz_ui.ui.theme import theme

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
TITLE = "bertviz_ui: BERT, explained visually"
UPLOAD_LIMIT = "2mb"


def build_demo(settings: Settings) -> gr.Blocks:
    """Build the app (no model is loaded until a tab asks for one).

    Args:
        settings: resolved configuration.

    Returns:
        The gr.Blocks app, ready to launch.
    """
    # The comparison reads the seed's five models' configs: the app names them itself, so they are allowed.
    short_payload_errors()
    configs_on_demand()
    ctx = AppContext(settings=settings, cache=build_cache(settings, also_allowed=(row[1] for row in TUTORIAL_TABLE)))
    remove_stale_files(settings.cache_dir)
    # Files Gradio copies for download (the lab's model zips) are deleted after an hour, checked hourly.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"# {TITLE}\nSee BERT at work on your own text: how it tokenizes, what it attends to, "
                    "what it predicts.", elem_id="bv-header")
        if settings.tiny:
            gr.HTML(tiny_banner_html(), elem_id="bv-tiny-banner")
        # Every tab in sight: a second row of tabs rather than some hidden behind a "..." menu.
        bar = link_bar()
        openings = []
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            for spec in TABS:
                with gr.Tab(spec.title, id=spec.id, elem_id=f"tab-{spec.id}") as tab:
                    opening = spec.build(ctx, tab)
                    if opening.link is not None:
                        opening.link.follow(tab)
                    openings.append(opening)
        compare.api(ctx)  # /compare: hidden inputs; each of its tabs has its own Compare button
        # The components start neutral (they are the API's defaults); the page opens with each tab's examples, or
        # with the settings of the link it was opened with.
        restore_on_load(demo, ctx, tabs, bar, openings)
    demo.queue(default_concurrency_limit=2)
    sweeper = SessionSweeper(demo, idle_s=settings.session_minutes * 60)
    queue.install(demo, queue.QueueLimits(), on_request=sweeper.maybe_sweep)
    return demo


def launch_options(settings: Settings) -> dict:
    """Keyword arguments for demo.launch(): theme, CSS and head (gradio 6 takes them here), host, port, errors."""
    options = {
        "css_paths": [ASSETS / "style.css"],
        "theme": theme(),
        # Our handlers turn every error into a gr.Error, which is always shown; what remains is Gradio's own checks of
        # malformed payloads, whose text names Python objects: the client gets a generic error instead.
        "show_error": False,
        "footer_links": ["api"],
        # The lab's CSV is the only upload and is refused past 1 MB with its own message; nothing larger is stored.
        "max_file_size": UPLOAD_LIMIT,
        # Gradio keeps a copy of the page's state per session (about 1 MB, plus the last results): bound how many.
        "state_session_capacity": settings.max_sessions,
        # A link carries its text in the URL: one too long for any link gets a sentence, not Gradio's 500.
        "app_kwargs": {"middleware": [Middleware(RefuseLongUrls)]},
    }
    host = settings.host or os.environ.get("GRADIO_SERVER_NAME")
    if host:
        options["server_name"] = host
    if settings.port is not None:
        options["server_port"] = settings.port
    # The plotly preload, then one script per concern: every gr.Plot's text alternative (assets/chart_text.js) and
    # SVG/PNG buttons (assets/plot_export.js), and keyboard fixes for Gradio's markup (assets/keyboard.js).
    scripts = "".join(f"<script>{(ASSETS / name).read_text(encoding='utf-8')}</script>"
                      for name in ("chart_text.js", "plot_export.js", "keyboard.js"))
    options["head"] = plotly_preload() + scripts
    return options


def plotly_preload() -> str:
    """A <link> that fetches Gradio's plotly.js bundle (4.6 MB) while the page opens, or "" if this Gradio has none.

    Gradio loads plotly.js with the first figure shown, which made a first Attention tab take 2.3 s to draw after its
    response instead of 0.9 s (tests/e2e/test_attention_draw.py). The bundle's name carries a build hash, so it is
    looked up in the installed Gradio rather than written here.
    """
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    bundles = sorted(assets.glob("PlotlyPlot-*.js"))
    return f'<link rel="modulepreload" href="./assets/{bundles[0].name}">' if len(bundles) == 1 else ""


def main(argv: list[str]) -> int:
    """Parse settings from the environment and flags, build the app and serve it until interrupted."""
    import logging

    from bertviz_ui.errors import BadInput

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = load_settings(argv)
        demo = build_demo(settings)
    except BadInput as error:
        print(f"bertviz_ui: {error}", file=sys.stderr)
        return 2
    log = logging.getLogger("bertviz_ui")
    if settings.public:
        log.info("Public mode: visitors load Hub models from the allow-list only (BERTVIZ_UI_ALLOW_MODELS), no local "
                 "paths, at most %.1f GB per download; no shared controls.", settings.max_model_gb)
    else:
        log.info("Local mode: visitors may type Hub ids and local directories (BERTVIZ_UI_PUBLIC=1 for a public "
                 "server).")
    demo.launch(**launch_options(settings))
    return 0
