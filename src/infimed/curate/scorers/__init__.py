"""Quality scorers: one small module per dimension, each mapping a sample (and its image statistics) to [0, 1].

Dimensions: ``image_quality`` (image.py), ``text_quality`` (text.py), ``consistency`` (consistency.py),
``verifiability`` (verifiability.py), ``difficulty`` (ifd.py, instruction-following difficulty from a
small causal LM; optional because it is slow on CPU).
"""
