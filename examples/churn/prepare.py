"""Write the example's training data as CSV (a dataset that ships with scikit-learn)."""

import argparse
from pathlib import Path

from sklearn.datasets import load_breast_cancer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="data", help="folder for train.csv")
    args = parser.parse_args()
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "train.csv", index=False)
    print(f"wrote {len(frame)} rows to {out / 'train.csv'}")


if __name__ == "__main__":
    main()
