fn main() -> std::process::ExitCode {
    outcry::cli::main()
}
