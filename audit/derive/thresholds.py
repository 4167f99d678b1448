"""The near-duplicate thresholds: how many bits two images' perceptual hashes may differ by for the images to count as
near-duplicates (both hashes must agree, see :mod:`audit.derive.neardup`). Declared here once, in a module that
imports nothing, so that the command line shows them in its help without loading NumPy or Numba."""

#: largest pHash Hamming distance between near-duplicates
DEFAULT_PHASH_THRESHOLD = 10
#: largest dHash Hamming distance between near-duplicates
DEFAULT_DHASH_THRESHOLD = 14
