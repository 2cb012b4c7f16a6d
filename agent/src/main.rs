//! The `crossbar-edge` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

/// mimalloc instead of glibc's allocator: the router allocates and frees a few small blocks per
/// routed message (dictionaries, strings), and glibc's `malloc`/`free` were a third of the
/// router worker's instructions per call under callgrind.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    agent::cli::main()
}
