//! The `nfcc` command. All of it lives in the `nfcc_driver` library; this only hands over
//! the arguments and turns the outcome into an exit code.

fn main() -> std::process::ExitCode {
    nfcc_driver::cli::main(std::env::args_os())
}
