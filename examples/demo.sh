#!/usr/bin/env bash
# The end-to-end demo behind `make demo`: a real project, tracked twice, read back, then served,
# watched and retrained on its labelled predictions.
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

# The deployment loop: register the forest, serve it, send production traffic and its ground
# truth, watch it, and retrain it on what it saw. Promotion stays a human decision.
step cairn model register forest:model --name churn
step cairn model alias churn@1 production
port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
serve_log="$(mktemp)"
printf '\n\033[1m$ cairn serve churn@production --port %s &\033[0m\n' "$port"
cairn serve churn@production --port "$port" >"$serve_log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$serve_log"' EXIT
printf '\n\033[1m$ # 300 predictions from slightly shifted inputs, then the true label of each\033[0m\n'
python - "$port" "$serve_log" <<'PY'
import csv, json, random, sys, time, urllib.error, urllib.request

url = f"http://127.0.0.1:{sys.argv[1]}"

def post(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as reply:
        return json.load(reply)

for _ in range(240):  # wait for the server to load the model
    try:
        urllib.request.urlopen(url + "/ping", timeout=2).close()
        break
    except (urllib.error.URLError, OSError):
        time.sleep(0.25)
else:
    sys.exit("cairn serve did not start:\n" + open(sys.argv[2]).read())

random.seed(7)
rows = list(csv.DictReader(open("data/train.csv")))
sample = [random.choice(rows) for _ in range(300)]
inputs = [{k: float(v) * (1.1 if k.startswith("worst") else 1.0)
           for k, v in r.items() if k != "target"} for r in sample]
ids = []
for start in range(0, len(inputs), 50):
    answer = post("/predict", {"inputs": inputs[start:start + 50]})
    ids += answer["prediction_ids"]
labels = [{"prediction_id": i, "label": int(r["target"])} for i, r in zip(ids, sample)]
print(json.dumps(post("/feedback", labels)), f"· {len(ids)} predictions, e.g. {ids[0]}")
PY
step cairn monitor churn
step cairn retrain churn@production
kill "$server" && wait "$server" 2>/dev/null || true
printf '\nThe loop is closed in %s — try: cairn model show churn@2 · cairn diff forest 3\n' "$demo"
