fn main() -> std::process::ExitCode {
    bridgekeeper::cli::main()
}
