"""The data stage: sources (CSV, NPZ, ``keras.datasets``, random), hold-out and
k-fold splits (scikit-learn), data per named model input and output, and the x/y
preprocessing steps, fitted on the training part only."""
