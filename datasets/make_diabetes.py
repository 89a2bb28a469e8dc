"""Write diabetes.csv from scikit-learn's bundled copy (run from the repository root).

442 patients: age, sex, bmi, bp (mean blood pressure), s1-s6 (blood serum measurements),
unscaled as in the original; target = disease progression one year after baseline.
"""

from sklearn.datasets import load_diabetes

frame = load_diabetes(as_frame=True, scaled=False).frame
frame.to_csv("datasets/diabetes.csv", index=False, float_format="%.10g")
