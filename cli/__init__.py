"""simrisk's command line: a thin Click layer over ``simcore``."""
