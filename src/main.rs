/// mimalloc instead of the C library's allocator: a request makes many short-lived
/// allocations (headers, form fields, JSON), and glibc's bookkeeping for them (bins,
/// consolidation) cost about a tenth of the server's CPU in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bridgekeeper::cli::main()
}
