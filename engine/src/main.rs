//! `wb-engine`: the command-line entry point.

fn main() {
    eprintln!("wb-engine: no subcommands are implemented yet; see README.md for what works today");
    std::process::exit(2);
}
