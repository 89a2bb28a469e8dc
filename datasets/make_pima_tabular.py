"""Build pima-tabular.csv from pima-indians-diabetes.csv (run from the repository root).

Adds a header, a categorical column (age_group), a multi-valued column (risk, categories
joined by "/") and string labels (pos/neg, as R's mlbench names them). The impossible
zeros of the original (glucose, pressure, triceps, insulin, mass) are kept: the config
marks them missing with data.missing_values.
"""

import csv

NAMES = ["pregnant", "glucose", "pressure", "triceps", "insulin", "mass", "pedigree", "age"]


def age_group(age: int) -> str:
    return "21-29" if age < 30 else "30-39" if age < 40 else "40-49" if age < 50 else "50+"


def risk(row: dict[str, float]) -> str:
    flags = []
    if row["mass"] >= 30:
        flags.append("obese")
    elif row["mass"] >= 25:
        flags.append("overweight")
    if row["pressure"] >= 90:
        flags.append("high-pressure")
    if row["pregnant"] >= 5:
        flags.append("multiparous")
    return "/".join(flags)


with open("datasets/pima-indians-diabetes.csv", newline="") as src, open(
    "datasets/pima-tabular.csv", "w", newline=""
) as dst:
    out = csv.writer(dst, lineterminator="\n")
    out.writerow([*NAMES, "age_group", "risk", "diabetes"])
    for cells in csv.reader(src):
        row = {n: float(v) for n, v in zip(NAMES, cells[:8])}
        label = "pos" if cells[8] == "1" else "neg"
        out.writerow([*cells[:8], age_group(int(row["age"])), risk(row), label])
