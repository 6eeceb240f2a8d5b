//! The engine's known-answer tests: tiny functions whose paths and costs are known by hand,
//! and the expression folder checked against Z3 on random inputs.

mod known;
mod folder;
mod interval;
