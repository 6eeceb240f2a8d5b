//! End-to-end tests of nf-examples/firewall (being written).
