"""The live crawl: the provenance spider (``spider``; ``spiders/provenance.py`` is Scrapy's entry point to it), the
Scrapy components (pipeline, WARC writer, robots.txt and proxy middlewares, content decoding, polite bounds), the
crawl context they share (``context``: crawl id, paths, resume state) and the signals they send each other
(``events``), resuming a ``JOBDIR`` crawl, shared crawls on Redis, and ``run_crawl``. Input side of the data flow: a
crawled response becomes image bytes for :mod:`audit.decode` and rows for :mod:`audit.store`.

Settings are read where Scrapy builds each component (``from_crawler``) and passed down as plain values.
"""
