"""The live crawl: Scrapy components (pipeline, WARC writer, robots.txt and proxy middlewares, content decoding,
polite bounds), resuming a ``JOBDIR`` crawl, shared crawls on Redis, and ``run_crawl``. Input side of the data flow:
a crawled response becomes image bytes for :mod:`audit.decode` and rows for :mod:`audit.store`.
"""
