#!/usr/bin/env bash
# The end-to-end demo behind `make demo`: a real project, tracked twice, then read back.
# Everything lives in DEMO_DIR (default .demo/ in this checkout) on the embedded store.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
demo="${DEMO_DIR:-$here/../.demo}"
rm -rf "$demo"
mkdir -p "$demo"
cp "$here"/churn/*.py "$here"/churn/README.md "$demo"/
cd "$demo"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-cairn demo}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@example.com}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
git init -q && printf 'data/\nmodel/\n' > .gitignore && git add -A && git commit -qm "churn example"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step python prepare.py
step cairn run --name forest -m "random forest baseline" -i data/ -o model/ -- \
  python train.py --model rf --n-estimators 100 --max-depth 6
step cairn run --name logreg -m "a linear model for comparison" -i data/ -o model/ -- \
  python train.py --model logreg --C 0.5
step cairn ls
step cairn show forest
step cairn diff forest logreg
printf '\nThe demo project is in %s — cd there and try: cairn ls --filter "metrics.acc > 0.95"\n' "$demo"
