"""The Scrapy signals the crawl's own components send each other (besides Scrapy's): the documented way they talk,
instead of reaching into each other through the crawler."""

#: Sent with ``policy=PolicyFile(...)`` by :class:`audit.crawl.robots.RobotsTxtMiddleware` for a robots.txt or
#: tdmrep.json that failed without a response; the pipeline records it in ``host_policies``.
policy_failed = object()

#: Sent by a component that wants the rows buffered so far written now (a shared crawl's worker that ran out of
#: requests, :class:`audit.crawl.shared.SharedCrawl`); the pipeline flushes its recorder. A handler's failure
#: comes back to the sender in ``send_catch_log``'s results.
flush_rows = object()

#: A request meta key: a request carrying it true is handled by the worker that made it, never handed to another
#: through a shared crawl's queue (:class:`audit.crawl.shared.SharedScheduler`): its outcome completes state only that
#: worker holds (a linked stylesheet, which the pages waiting for it in that worker's cache need).
LOCAL_REQUEST = "provaudit_local"
