"""The embedded dev stack and the reference State Hub (dev and test use only).

``actcore dev up`` (``make run``) starts a Temporal dev server, the reference State Hub and
a worker; the tests start the State Hub in-process. Nothing in production imports this.
"""
