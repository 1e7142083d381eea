"""Measuring the models on held-out hands: the evaluation protocol and its report (evaluate) and
the error listings (diagnose).
"""
