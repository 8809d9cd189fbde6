//! Published ports: a userland proxy from a host port to a container's.
