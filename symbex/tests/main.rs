//! The engine's known-answer tests: tiny functions whose paths and costs are known by hand,
//! the expression folder checked against Z3 on random inputs, and the interval refutation
//! checked against Z3 on random paths.

mod known;
mod folder;
mod interval;

/// A xorshift generator: the random tests' inputs, the same on every run.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
