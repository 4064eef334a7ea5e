//! The `hookline` binary: a thin shell over the library.

/// mimalloc instead of the C library's allocator: every delivery allocates its headers,
/// request and response on the async workers, and profiling (perf, fan-out-10 bench) showed
/// glibc malloc and free at about a fifth of the process's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookline::cli::main()
}
