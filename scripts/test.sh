#!/usr/bin/env bash
# Install the test dependencies (Chromium included) and run the whole suite: unit, API and browser tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# Playwright needs a Chromium: Debian's package where apt exists (Playwright can't download browsers
# behind our firewall), else Playwright's own build.
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
  else
    python -m playwright install chromium
  fi
fi

# Lint first (rules in pyproject.toml): a finding fails the run before the slower tests start.
python -m ruff check --quiet .

export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
exec python -m pytest "$@"
