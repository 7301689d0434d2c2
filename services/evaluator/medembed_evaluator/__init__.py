"""medembed evaluator: linear probes and benchmark tables from the embedding API.

The package never imports torch: images go to the encoder service as bytes, and everything
computed here (raw-pixel baseline, probes, tables) needs only numpy, Pillow and scikit-learn.
"""
