"""Train a classifier with k-fold cross-validation and save it.

A plain script: settings come from argparse (cairn records them without any code change), a
few lines of the cairn SDK add per-fold metrics and log the model for `cairn serve`, and
`cairn retrain` hands it labelled production rows in CAIRN_FEEDBACK_DATA. Run it tracked with:

    cairn run -i data/ -o model/ -- python train.py --model rf --n-estimators 200
"""

import argparse
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cairn


def build(args: argparse.Namespace):
    if args.model == "rf":
        return RandomForestClassifier(
            n_estimators=args.n_estimators, max_depth=args.max_depth, random_state=args.seed,
            n_jobs=1,
        )
    return make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=2000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/train.csv")
    parser.add_argument("--model", choices=["rf", "logreg"], default="rf")
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=None)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="model")
    args = parser.parse_args()

    frame = pd.read_csv(args.data)
    extra = os.environ.get("CAIRN_FEEDBACK_DATA")  # labelled production rows, when retraining
    if extra and Path(extra).exists():
        frame = pd.concat([frame, pd.read_csv(extra)], ignore_index=True)
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()

    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    scores = []
    for fold, (train, test) in enumerate(folds.split(X, y)):
        model = build(args).fit(X.iloc[train], y[train])
        proba = model.predict_proba(X.iloc[test])[:, 1]
        pred = (proba >= 0.5).astype(int)
        scores.append(accuracy_score(y[test], pred))
        cairn.log({"acc": scores[-1], "f1": f1_score(y[test], pred),
                   "loss": log_loss(y[test], proba)}, step=fold)
        print(f"fold {fold}: acc {scores[-1]:.4f}")

    model = build(args).fit(X, y)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    cairn.log({"cv_acc": float(np.mean(scores))})
    cairn.log_model(model, "model", example=X.iloc[:5], profile_data=X)
    print(f"cross-validated accuracy {np.mean(scores):.4f} ± {np.std(scores):.4f}")


if __name__ == "__main__":
    main()
