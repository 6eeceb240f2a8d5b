//! End-to-end tests of nf-examples/lb (being written).
