//! End-to-end tests of nf-examples/router (being written).
