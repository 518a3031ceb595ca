#!/usr/bin/env bash
# Rebuild the console from its lockfile and fail if the result differs from the committed build
# in node/web/app (which is what `pip install` ships: installing fedshare needs no Node).
# Skipped, with a message, only where npm is missing.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
    echo "console: npm not found, the committed build in node/web/app is not checked" \
        "(install Node 20 and npm to check it)" >&2
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent >/dev/null
cd ..
if ! git diff --quiet --exit-code -- node/web/app \
    || [ -n "$(git ls-files --others --exclude-standard -- node/web/app)" ]; then
    echo "console: the build from console/ differs from the committed node/web/app:" >&2
    git status --short -- node/web/app >&2
    echo "rebuild (cd console && npm ci && npm run build) and commit node/web/app" >&2
    exit 1
fi
echo "console: node/web/app matches a fresh build from console/package-lock.json"
