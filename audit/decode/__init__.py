"""From bytes to facts: which image formats are decoded, the bounded worker processes that decode them, fingerprints,
embedded metadata and C2PA manifests of an image, the references, links and facts of an HTML page, and HTTP content
encodings. Nothing here decides a country: that is :mod:`audit.signals`.
"""
