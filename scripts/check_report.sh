#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium and saves a screenshot to look at.
#
#   scripts/check_report.sh [RUN_DIR] [SCREENSHOT]
#
# With no RUN_DIR it trains a tiny run (40 steps, width / 32, 64x64 synthetic scenes; about
# a minute on a 2-core CPU) into a fresh temporary directory first. It installs nothing; it needs:
#   - cargo (the workspace toolchain), to build and run crates/fcn-train/examples/report.rs
#   - chromium (or chromium-browser / google-chrome) on PATH, e.g. `apt-get install chromium`
# It also checks that the page is self-contained (no script, no http(s) reference other than
# the SVG namespace) before taking the screenshot.
set -euo pipefail
cd "$(dirname "$0")/.."

run_dir=${1:-}
shot=${2:-/tmp/report.png}

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$candidate
        break
    fi
done
if [[ -z $browser ]]; then
    echo "check_report.sh: needs chromium (or chromium-browser / google-chrome) on PATH" >&2
    exit 2
fi

if [[ -z $run_dir ]]; then
    run_dir=$(mktemp -d /tmp/fcn-report-run.XXXXXX)
    rmdir "$run_dir"
    cargo run --quiet --profile test -p fcn-train --example report -- --train "$run_dir"
else
    cargo run --quiet --profile test -p fcn-train --example report -- "$run_dir"
fi

html=$run_dir/report.html
namespaces=$(grep -o 'xmlns="http://www.w3.org/2000/svg"' "$html" | wc -l)
references=$(grep -o 'http' "$html" | wc -l)
if grep -q '<script' "$html" || [[ $references -ne $namespaces ]]; then
    echo "check_report.sh: $html is not self-contained" >&2
    exit 1
fi

"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --screenshot="$shot" --window-size=1400,3000 "file://$(realpath "$html")" 2>/dev/null
echo "report: $html ($(wc -c <"$html") bytes)"
echo "screenshot: $shot -- look at it"
