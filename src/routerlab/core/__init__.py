"""The core every branch uses: atomic I/O, run-time helpers, batching, GPU leases, the one
table/figure writer, the config-error type, registries and the router base class."""
