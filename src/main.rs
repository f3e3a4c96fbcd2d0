//! The `callqa` command: all work is in the library; see `callqa::app`.

fn main() -> std::process::ExitCode {
    callqa::app::main()
}
