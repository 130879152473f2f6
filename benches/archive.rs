//! Archive extraction benchmark: the CPython 3.11 standard library's `.py` files (site-packages
//! excluded; 1,790 files, ~34 MB), archived at run time with the system `tar`, `gzip` and `zip`
//! into a temporary directory, then extracted natively by `workspace::archive::extract`.
//!
//! ```text
//! cargo bench --bench archive [-- /path/to/python3.x/lib]
//! ```
//!
//! Each archive is extracted `RUNS` times; the median is reported as ms and MB/s of extracted
//! text. The baseline, timed the same way in the same run, is inflating the same tar.gz with
//! flate2's `MultiGzDecoder` (miniz_oxide backend) into a sink: the floor any tar.gz reader pays.

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use edge_assistant::workspace::archive::{extract, ArchiveFormat, Caps};

const RUNS: usize = 5;
const DEFAULT_LIB: &str = "/root/.pyenv/versions/3.11.7/lib/python3.11";

fn median_ms(mut run: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn run(command: &mut Command) {
    let status = command.status().expect("run an archiver");
    assert!(status.success(), "{command:?} failed");
}

fn main() {
    let lib = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_else(|| DEFAULT_LIB.to_owned());
    let lib = PathBuf::from(lib);
    let work = std::env::temp_dir().join(format!("archive-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let list = work.join("files.txt");
    let output = Command::new("find")
        .arg(".")
        .args([
            "-name",
            "*.py",
            "-not",
            "-path",
            "*/site-packages/*",
            "-type",
            "f",
        ])
        .current_dir(&lib)
        .output()
        .expect("find");
    let mut names: Vec<&str> = std::str::from_utf8(&output.stdout)
        .expect("utf-8 names")
        .lines()
        .collect();
    names.sort_unstable();
    std::fs::write(&list, names.join("\n") + "\n").expect("file list");
    let tar = work.join("stdlib.tar");
    let tar_gz = work.join("stdlib.tar.gz");
    let zip = work.join("stdlib.zip");
    run(Command::new("tar")
        .arg("cf")
        .arg(&tar)
        .arg("-T")
        .arg(&list)
        .current_dir(&lib));
    run(Command::new("sh").arg("-c").arg(format!(
        "gzip -6 -c {} > {}",
        tar.display(),
        tar_gz.display()
    )));
    run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zip -q -6 {} -@ < {}",
            zip.display(),
            list.display()
        ))
        .current_dir(&lib));

    let read = |path: &Path| std::fs::read(path).expect("read archive");
    let (tar, tar_gz, zip) = (read(&tar), read(&tar_gz), read(&zip));
    std::fs::remove_dir_all(&work).ok();

    let caps = Caps::default();
    let check = extract(&tar_gz, ArchiveFormat::TarGz, &caps).expect("the stdlib extracts");
    let text_bytes: usize = check.files.iter().map(|file| file.bytes.len()).sum();
    let megabytes = text_bytes as f64 / 1e6;
    println!(
        "CPython stdlib: {} .py files found, {} kept, {:.1} MB of text; skipped {:?}",
        names.len(),
        check.files.len(),
        megabytes,
        check.skipped
    );

    let baseline = median_ms(|| {
        let mut decoder = flate2::read::MultiGzDecoder::new(black_box(tar_gz.as_slice()));
        let mut buffer = vec![0u8; 64 << 10];
        while decoder.read(&mut buffer).expect("inflate") > 0 {}
    });
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>8}",
        "case", "archive", "median", "MB/s", "÷ base"
    );
    println!(
        "{:<36} {:>7.1}MB {:>7.1}ms {:>9.0} {:>8.2}",
        "baseline: flate2 inflate tar.gz",
        tar_gz.len() as f64 / 1e6,
        baseline,
        megabytes / baseline * 1e3,
        1.0
    );
    for (label, body, format) in [
        ("extract tar", &tar, ArchiveFormat::Tar),
        ("extract tar.gz", &tar_gz, ArchiveFormat::TarGz),
        ("extract zip", &zip, ArchiveFormat::Zip),
    ] {
        let ms = median_ms(|| {
            let extracted = extract(black_box(body), format, &caps).expect("extract");
            assert_eq!(extracted.files.len(), check.files.len());
            black_box(extracted);
        });
        println!(
            "{:<36} {:>7.1}MB {:>7.1}ms {:>9.0} {:>8.2}",
            label,
            body.len() as f64 / 1e6,
            ms,
            megabytes / ms * 1e3,
            ms / baseline
        );
    }
}
