//! The one error type of the passes crate. Each variant names where the problem is.

use std::path::PathBuf;

/// A failure in loading, transforming or emitting a module.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// An IR file could not be parsed.
    #[error("{}: cannot read LLVM IR: {message}", path.display())]
    Load {
        /// The bitcode file.
        path: PathBuf,
        /// LLVM's message.
        message: String,
    },
    /// Two inputs could not be linked into one module (e.g. a symbol defined twice).
    #[error("{}: cannot link into the module: {message}", path.display())]
    Link {
        /// The input being linked in.
        path: PathBuf,
        /// LLVM's message.
        message: String,
    },
    /// The IR is malformed after a stage (a bug in that stage, or in its input).
    #[error("module is invalid after stage `{stage}`: {message}")]
    Verify {
        /// The stage that ran last.
        stage: String,
        /// LLVM verifier output.
        message: String,
    },
    /// LLVM refused a pass-pipeline string.
    #[error("LLVM pipeline `{pipeline}` failed: {message}")]
    Pipeline {
        /// The pipeline text.
        pipeline: String,
        /// LLVM's message.
        message: String,
    },
    /// The module violates the nfcc module ABI.
    #[error("{file}: {message}")]
    Abi {
        /// The source file(s) of the module.
        file: String,
        /// What is wrong, naming the function.
        message: String,
    },
    /// No target machine for x86-64.
    #[error("cannot create the x86-64 target machine: {message}")]
    Target {
        /// LLVM's message.
        message: String,
    },
    /// Code generation or writing the object failed.
    #[error("{}: cannot emit object: {message}", path.display())]
    Emit {
        /// The object path.
        path: PathBuf,
        /// LLVM's message.
        message: String,
    },
    /// The machine code of a function cannot be costed (an instruction whose cost depends
    /// on data, or assembly the cost annotation cannot map back to the IR).
    #[error("cost annotation: function `{function}`: {message}")]
    Cost {
        /// The function at fault.
        function: String,
        /// What is wrong, naming the instruction or block.
        message: String,
    },
}
