//! Runs one target over files and prints the time each took: `cargo run -p fuzz-harness
//! --example replay -- <target> <file>...` (reproducing a crash outside libFuzzer, finding
//! slow inputs).

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: replay <target> <file>...");
    let run = fuzz_harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no target {target}"));
    for f in args {
        let data = std::fs::read(&f).expect("read the input");
        let t = std::time::Instant::now();
        run(&data);
        println!("{:>8.1} ms  {f}", t.elapsed().as_secs_f64() * 1e3);
    }
}
