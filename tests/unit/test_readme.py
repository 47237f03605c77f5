"""The README tells the truth: every option is documented and CI runs the README's test command."""

from __future__ import annotations

from pathlib import Path

from bertviz_ui.config import OPTIONS, model_option_help
from bertviz_ui.registry import TASKS, Head
from bertviz_ui.ui.tabs import TABS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_option_is_in_the_configuration_table():
    for option in OPTIONS:
        assert f"| `{option.env}` | `{option.flag}` |" in README


def test_model_rows_are_the_registrys():
    """Each tab's model row is generated from the registry (title, default, curated choices): paste what fails."""
    for task in TASKS:
        option = next(o for o in OPTIONS if o.name == f"model_{task.id}")
        assert f"| `{option.env}` | `{option.flag}` | {model_option_help(task)} |" in README


def test_every_tiny_head_is_listed():
    tiny = README[README.index("`tiny:<head>` with head"):][:600]
    for head in Head:
        if head is not Head.TOKENIZER:
            assert f"`{head.value}`" in tiny


def test_ci_runs_the_readme_test_command():
    assert "```bash\nbash scripts/test.sh\n```" in README
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_tab_is_described():
    for tab in TABS:
        assert f"| **{tab.title}** |" in README


def test_space_front_matter():
    front = README.split("---")[1]
    assert "sdk: gradio" in front and "app_file: app.py" in front and "preload_from_hub:" in front


def test_every_api_endpoint_is_in_the_api_table(settings):
    from bertviz_ui.ui.app import build_demo

    names = {fn.api_name for fn in build_demo(settings).fns.values() if fn.api_name and fn.api_visibility == "public"}
    missing = sorted(name for name in names if f"| `/{name}` |" not in README)
    assert len(names) > 20 and missing == []
