"""Figures: every plotting function; no backend is chosen at import (scripts set MPLBACKEND or rely on matplotlib)."""
