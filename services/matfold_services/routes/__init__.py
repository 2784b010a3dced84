"""HTTP routes of the matfold service, one module per concept."""
