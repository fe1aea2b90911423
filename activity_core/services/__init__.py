"""Services: what the CLI runs today and the REST API will run tomorrow.

Each operation lives once here (schedule sync, status, verify, starting runs, listing and
waking deliveries); the CLI and the API are thin faces over these functions.
"""
