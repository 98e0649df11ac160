//! Builds the deterministic sample database used by the demo, the tests and the
//! benchmarks: `cargo run --release --example make_sample_db -- PATH SIZE_MB [wal|delete] [SEED]`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: make_sample_db PATH SIZE_MB [wal|delete] [SEED]");
        std::process::exit(2);
    }
    let path = std::path::Path::new(&args[0]);
    let mb: u64 = args[1].parse().expect("SIZE_MB is a whole number");
    let mode = args.get(2).map(String::as_str).unwrap_or("delete");
    let seed: u64 = args
        .get(3)
        .map(|s| s.parse().expect("SEED is a number"))
        .unwrap_or(1);
    let info =
        sqlkeep::sample::create_sample_database(path, mb << 20, seed, mode).unwrap_or_else(|e| {
            eprintln!("make_sample_db: {e}");
            std::process::exit(1);
        });
    println!(
        "{}: {} employees, {} documents, {} bytes, journal_mode={mode}",
        path.display(),
        info.employees,
        info.documents,
        info.bytes
    );
}
