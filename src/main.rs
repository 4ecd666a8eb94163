// The worker allocates and frees per message on several threads (librdkafka's, tokio's, the
// pure stage's); glibc malloc spent ~37% of its CPU in a profile of `outcry run` (perf), mimalloc
// much less (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    outcry::cli::main()
}
