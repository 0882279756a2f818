"""Benchmarks: cairn side by side with the tools users would pick instead (MLflow, DVC).

Run ``python -m benchmarks --help``. Each scenario runs the same work for cairn and for its
anchor, alternating A B A B, every measured piece in a fresh subprocess of the right
interpreter so that nothing one tool loads can warm the other. See ``benchmarks/README.md``.
"""
