"""Numbered, linear revisions: one per schema change, named `NNNN_what_it_does.py`."""
