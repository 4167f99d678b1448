"""Inputs someone else crawled: WARC/ARC archives read in bounded memory and folders of image files, turned into the
same items a live crawl makes and written through the same recorder.
"""
