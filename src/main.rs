//! The `hookline` binary: a thin shell over the library.
fn main() -> std::process::ExitCode {
    hookline::cli::main()
}
