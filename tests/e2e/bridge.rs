//! End-to-end tests of nf-examples/bridge (being written).
