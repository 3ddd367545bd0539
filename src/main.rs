/// mimalloc instead of the C library's allocator: a request makes many short-lived
/// allocations (headers, form fields, JSON), and glibc's bookkeeping for them (bins,
/// consolidation) cost about a tenth of the server's CPU in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bridgekeeper::cli::MountedCommand;

fn main() -> std::process::ExitCode {
    // The emulator's command line is its own crate's; the binary is where the two meet,
    // so neither `cli` knows the other.
    bridgekeeper::cli::main(MountedCommand {
        command: stripe_emulator::cli::command(),
        run: stripe_emulator::cli::run_from,
    })
}
