"""Fronts over core: the Textual console and the headless command line."""
