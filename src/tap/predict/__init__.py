"""The predictor: a scikit-learn estimator from cohort features to lift, with conformal intervals."""
