//! End-to-end tests of [`extract`]: archives are built here, byte by byte, with small tar and
//! zip writers (flate2 compresses), so every malformation can be produced on purpose.

use std::io::Write;
use std::time::{Duration, Instant};

use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::{Compress, Compression, FlushCompress};

use super::crc32::crc32;
use super::*;

// ---------------------------------------------------------------- writers

const REGULAR: u8 = b'0';
const HARD_LINK: u8 = b'1';
const SYMLINK: u8 = b'2';
const DIRECTORY: u8 = b'5';

/// A ustar header for `name` (≤ 100 bytes) of `size` bytes, checksum filled in.
fn tar_header(name: &[u8], type_flag: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name);
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0001750\0");
    header[116..124].copy_from_slice(b"0001750\0");
    header[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    header[136..148].copy_from_slice(b"14712345670\0");
    header[156] = type_flag;
    header[157..157 + link.len()].copy_from_slice(link);
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    set_tar_checksum(&mut header);
    header
}

fn set_tar_checksum(header: &mut [u8; 512]) {
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&byte| u32::from(byte)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[derive(Default)]
struct Tar {
    out: Vec<u8>,
}

impl Tar {
    fn raw(&mut self, header: [u8; 512], data: &[u8]) -> &mut Tar {
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(data);
        self.out.resize(self.out.len().next_multiple_of(512), 0);
        self
    }
    fn entry(&mut self, name: &str, type_flag: u8, data: &[u8]) -> &mut Tar {
        self.raw(
            tar_header(name.as_bytes(), type_flag, data.len() as u64, b""),
            data,
        )
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        self.entry(name, REGULAR, data)
    }
    fn link(&mut self, name: &str, type_flag: u8, target: &str) -> &mut Tar {
        self.raw(
            tar_header(name.as_bytes(), type_flag, 0, target.as_bytes()),
            b"",
        )
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A raw deflate stream of `prefix` then `zeros` zero bytes, built in O(compressed size): after a
/// full flush the compressor forgets its history, so every 1 MiB chunk of zeros compresses to the
/// same bytes, which are repeated.
fn deflate_zeros_after(prefix: &[u8], zeros: u64) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let mut compress = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(1 << 20);
    compress
        .compress_vec(prefix, &mut out, FlushCompress::Full)
        .unwrap();
    let mut chunk_out = Vec::with_capacity(1 << 16);
    compress
        .compress_vec(&vec![0u8; CHUNK], &mut chunk_out, FlushCompress::Full)
        .unwrap();
    let chunks = zeros / CHUNK as u64;
    for _ in 0..chunks {
        out.extend_from_slice(&chunk_out);
    }
    let rest = vec![0u8; (zeros % CHUNK as u64) as usize];
    let mut tail = Vec::with_capacity(1 << 16);
    let mut finisher = Compress::new(Compression::best(), false);
    finisher
        .compress_vec(&rest, &mut tail, FlushCompress::Finish)
        .unwrap();
    out.extend_from_slice(&tail);
    out
}

struct ZipItem {
    name: Vec<u8>,
    method: u16,
    flags: u16,
    crc: u32,
    stored_bytes: Vec<u8>,
    declared_size: u64,
    unix_mode: u32,
    /// Write the sizes and offset as zip64 extras.
    zip64: bool,
}

impl ZipItem {
    fn honest(name: &str, data: &[u8], deflated: bool) -> ZipItem {
        ZipItem {
            name: name.as_bytes().to_vec(),
            method: if deflated { 8 } else { 0 },
            flags: 0x0800,
            crc: crc32(data),
            stored_bytes: if deflated {
                deflate(data)
            } else {
                data.to_vec()
            },
            declared_size: data.len() as u64,
            unix_mode: 0o100_644,
            zip64: false,
        }
    }
}

/// A zip of `items`; `extra_central` adds directory records pointing at earlier local headers
/// (name, index of the item whose local header they reuse).
fn zip_with(items: &[ZipItem], extra_central: &[(&str, usize)], zip64_end: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut offsets = Vec::new();
    let mut records = 0u64;
    let write_central = |central: &mut Vec<u8>, item: &ZipItem, name: &[u8], offset: u64| {
        let saturate = |value: u64| if item.zip64 { u32::MAX } else { value as u32 };
        central.extend_from_slice(&0x0201_4B50u32.to_le_bytes());
        central.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes());
        central.extend_from_slice(&45u16.to_le_bytes());
        central.extend_from_slice(&item.flags.to_le_bytes());
        central.extend_from_slice(&item.method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0x21, 0]);
        central.extend_from_slice(&item.crc.to_le_bytes());
        central.extend_from_slice(&saturate(item.stored_bytes.len() as u64).to_le_bytes());
        central.extend_from_slice(&saturate(item.declared_size).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&(if item.zip64 { 28u16 } else { 0 }).to_le_bytes());
        central.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&(item.unix_mode << 16).to_le_bytes());
        central.extend_from_slice(&saturate(offset).to_le_bytes());
        central.extend_from_slice(name);
        if item.zip64 {
            central.extend_from_slice(&1u16.to_le_bytes());
            central.extend_from_slice(&24u16.to_le_bytes());
            central.extend_from_slice(&item.declared_size.to_le_bytes());
            central.extend_from_slice(&(item.stored_bytes.len() as u64).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
        }
    };
    for item in items {
        let offset = out.len() as u64;
        offsets.push(offset);
        out.extend_from_slice(&0x0403_4B50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&item.flags.to_le_bytes());
        out.extend_from_slice(&item.method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]);
        out.extend_from_slice(&item.crc.to_le_bytes());
        out.extend_from_slice(&(item.stored_bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&(item.declared_size as u32).to_le_bytes());
        out.extend_from_slice(&(item.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&item.name);
        out.extend_from_slice(&item.stored_bytes);
        write_central(&mut central, item, &item.name, offset);
        records += 1;
    }
    for (name, index) in extra_central {
        write_central(
            &mut central,
            &items[*index],
            name.as_bytes(),
            offsets[*index],
        );
        records += 1;
    }
    let central_offset = out.len() as u64;
    out.extend_from_slice(&central);
    if zip64_end {
        let record_offset = out.len() as u64;
        out.extend_from_slice(&0x0606_4B50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&records.to_le_bytes());
        out.extend_from_slice(&records.to_le_bytes());
        out.extend_from_slice(&(central.len() as u64).to_le_bytes());
        out.extend_from_slice(&central_offset.to_le_bytes());
        out.extend_from_slice(&0x0706_4B50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&record_offset.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4B50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    let count = if zip64_end { u16::MAX } else { records as u16 };
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    let (size, offset) = if zip64_end {
        (u32::MAX, u32::MAX)
    } else {
        (central.len() as u32, central_offset as u32)
    };
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn zip(items: &[(&str, &[u8])]) -> Vec<u8> {
    let items: Vec<ZipItem> = items
        .iter()
        .enumerate()
        .map(|(index, (name, data))| ZipItem::honest(name, data, index % 2 == 0))
        .collect();
    zip_with(&items, &[], false)
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect()
}

fn paths(extracted: &Extracted) -> Vec<&str> {
    extracted
        .files
        .iter()
        .map(|file| file.path.as_str())
        .collect()
}

fn file<'a>(extracted: &'a Extracted, path: &str) -> &'a [u8] {
    &extracted
        .files
        .iter()
        .find(|file| file.path == path)
        .unwrap_or_else(|| panic!("{path} missing from {:?}", paths(extracted)))
        .bytes
}

fn caps() -> Caps {
    Caps::default()
}

// ---------------------------------------------------------------- formats

/// The same small project as tar, tar.gz and zip.
const PROJECT: &[(&str, &[u8])] = &[
    ("src/main.py", b"def main():\n    pass\n"),
    ("README.md", b"# Project\n"),
    ("empty.txt", b""),
    ("src/util/__init__.py", b"\n"),
];

fn project_tar() -> Vec<u8> {
    let mut tar = Tar::default();
    tar.entry("src/", DIRECTORY, b"");
    for (name, data) in PROJECT {
        tar.file(name, data);
    }
    tar.finish()
}

#[test]
fn every_format_yields_the_same_sorted_files() {
    let expected = vec![
        "README.md",
        "empty.txt",
        "src/main.py",
        "src/util/__init__.py",
    ];
    let tar = project_tar();
    let zip = zip(PROJECT);
    for (body, format) in [
        (tar.clone(), ArchiveFormat::Tar),
        (gzip(&tar), ArchiveFormat::TarGz),
        (zip, ArchiveFormat::Zip),
    ] {
        let extracted = extract(&body, format, &caps()).unwrap();
        assert_eq!(paths(&extracted), expected, "{format}");
        assert_eq!(file(&extracted, "src/main.py"), b"def main():\n    pass\n");
        assert_eq!(file(&extracted, "empty.txt"), b"", "0-byte files are kept");
        assert_eq!(extracted.skipped, Skipped::default());
        assert_eq!(extracted.stripped_prefix, None);
    }
}

#[test]
fn multi_member_gzip_and_missing_end_blocks_are_fine() {
    let tar = project_tar();
    let without_end = &tar[..tar.len() - 1024];
    let (first, second) = without_end.split_at(1024);
    let mut body = gzip(first);
    body.extend(gzip(second));
    let extracted = extract(&body, ArchiveFormat::TarGz, &caps()).unwrap();
    assert_eq!(extracted.files.len(), 4);
}

#[test]
fn github_style_top_directory_is_stripped() {
    let mut tar = Tar::default();
    tar.entry("repo-main/", DIRECTORY, b"")
        .file("repo-main/a.py", b"a = 1\n")
        .file("repo-main/pkg/b.py", b"b = 2\n");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["a.py", "pkg/b.py"]);
    assert_eq!(extracted.stripped_prefix.as_deref(), Some("repo-main"));

    // A file at the top level means there is no common directory.
    let mut tar = Tar::default();
    tar.file("top.txt", b"x").file("repo-main/a.py", b"a");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["repo-main/a.py", "top.txt"]);
    assert_eq!(extracted.stripped_prefix, None);

    // git archive's pax global header does not count as an entry.
    let mut tar = Tar::default();
    tar.entry(
        "pax_global_header",
        b'g',
        b"52 comment=0123456789abcdef0123456789abcdef01234567\n",
    )
    .file("proj-1.0/x.rs", b"fn x() {}\n");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["x.rs"]);
}

#[test]
fn long_names_pax_and_base_256_sizes() {
    let long = format!("{}/deep.py", "d".repeat(150));
    let pax_name = format!("{}/pax.py", "p".repeat(200));
    let record = format!("path={pax_name}\n");
    let record = format!("{} {record}", record.len() + 4);
    let mut tar = Tar::default();
    tar.entry("././@LongLink", b'L', format!("{long}\0").as_bytes())
        .file("truncated-name-ignored", b"long = True\n")
        .entry("PaxHeaders/x", b'x', record.as_bytes())
        .file("short", b"pax = True\n");
    let mut header = tar_header(b"b256.txt", REGULAR, 0, b"");
    header[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    set_tar_checksum(&mut header);
    tar.raw(header, b"hello");
    let mut prefixed = tar_header(b"name.py", REGULAR, 3, b"");
    prefixed[345..351].copy_from_slice(b"prefix");
    set_tar_checksum(&mut prefixed);
    tar.raw(prefixed, b"p=1");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(file(&extracted, &long), b"long = True\n");
    assert_eq!(file(&extracted, &pax_name), b"pax = True\n");
    assert_eq!(file(&extracted, "b256.txt"), b"hello");
    assert_eq!(file(&extracted, "prefix/name.py"), b"p=1");
    assert_eq!(extracted.files.len(), 4);
}

#[test]
fn pax_size_overrides_the_header() {
    let mut tar = Tar::default();
    tar.entry("PaxHeaders/x", b'x', b"11 size=12\n");
    tar.raw(tar_header(b"sized.txt", REGULAR, 0, b""), b"twelve bytes");
    tar.file("after.txt", b"after");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(file(&extracted, "sized.txt"), b"twelve bytes");
    assert_eq!(file(&extracted, "after.txt"), b"after");
}

#[test]
fn zip64_data_descriptors_and_real_writers() {
    // Written by CPython's zipfile: zip64 local extras, then a streamed entry with a data
    // descriptor (zero sizes in its local header).
    let zip64 = hex("504b03042d0000000800000021001f2f121dffffffffffffffff0d00140070726f6a2f62696736342e70790100100045000000000000001a000000000000004b494d5348d3d0b4e2520082a2d492d2a23c053313ae14928401504b030414000000080035b27c5d86a6103607000000050000000e00000070726f6a2f736d616c6c2e747874cb48cdc9c90700504b01022d032d0000000800000021001f2f121d1a000000450000000d000000000000000000000080010000000070726f6a2f62696736342e7079504b0102140314000000080035b27c5d86a6103607000000050000000e000000000000000000000080015900000070726f6a2f736d616c6c2e747874504b05060000000002000200770000008c0000000000");
    let extracted = extract(&zip64, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["big64.py", "small.txt"]);
    assert_eq!(file(&extracted, "small.txt"), b"hello");
    let streamed = hex("504b0304140008000800000021000000000000000000000000000b00000073747265616d65642e70792b28cacc2bd1502f2e294a4dcc4d4d5128cf2cc950485448492c0112a9c5c945990525f945ea9a5c00504b070820e636b22900000029000000504b010214031400080008000000210020e636b229000000290000000b000000000000000000000080010000000073747265616d65642e7079504b0506000000000100010039000000620000000000");
    let extracted = extract(&streamed, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(
        file(&extracted, "streamed.py"),
        b"print('streamed with a data descriptor')\n"
    );

    // Zip64 end records and central extras, from the writer here.
    let mut item = ZipItem::honest("z64.txt", b"sixty-four", true);
    item.zip64 = true;
    let body = zip_with(
        &[item, ZipItem::honest("plain.txt", b"p", false)],
        &[],
        true,
    );
    let extracted = extract(&body, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(file(&extracted, "z64.txt"), b"sixty-four");
    assert_eq!(file(&extracted, "plain.txt"), b"p");
}

#[test]
fn format_comes_from_content_type_and_mismatches_are_refused() {
    assert_eq!(
        ArchiveFormat::from_content_type("application/zip"),
        Some(ArchiveFormat::Zip)
    );
    assert_eq!(
        ArchiveFormat::from_content_type("Application/GZIP; charset=binary"),
        Some(ArchiveFormat::TarGz)
    );
    assert_eq!(
        ArchiveFormat::from_content_type("application/x-tar"),
        Some(ArchiveFormat::Tar)
    );
    assert_eq!(ArchiveFormat::from_content_type("text/plain"), None);
    let tar = project_tar();
    assert_eq!(ArchiveFormat::sniff(&tar), Some(ArchiveFormat::Tar));
    assert_eq!(
        ArchiveFormat::sniff(&gzip(&tar)),
        Some(ArchiveFormat::TarGz)
    );
    assert_eq!(
        ArchiveFormat::sniff(&zip(PROJECT)),
        Some(ArchiveFormat::Zip)
    );
    assert_eq!(ArchiveFormat::sniff(b"hello"), None);
    assert_eq!(
        extract(&tar, ArchiveFormat::Zip, &caps()),
        Err(ArchiveError::FormatMismatch {
            declared: ArchiveFormat::Zip,
            found: ArchiveFormat::Tar
        })
    );
    assert!(matches!(
        extract(&zip(PROJECT), ArchiveFormat::TarGz, &caps()),
        Err(ArchiveError::FormatMismatch { .. })
    ));
    // A gzip that is not a tar inside.
    assert!(matches!(
        extract(&gzip(b"just some text"), ArchiveFormat::TarGz, &caps()),
        Err(ArchiveError::Truncated | ArchiveError::Corrupt(_))
    ));
    assert!(extract(b"", ArchiveFormat::Tar, &caps()).is_err());
    let small = Caps {
        max_archive_bytes: 100,
        ..caps()
    };
    assert!(matches!(
        extract(&tar, ArchiveFormat::Tar, &small),
        Err(ArchiveError::ArchiveTooLarge { .. })
    ));
}

// ---------------------------------------------------------------- corrupt and truncated

#[test]
fn corrupt_tar_is_refused() {
    let mut tar = project_tar();
    tar[0] ^= 0x20; // a name byte: the checksum no longer holds
    assert_eq!(
        extract(&tar, ArchiveFormat::Tar, &caps()),
        Err(ArchiveError::Corrupt("tar header checksum mismatch"))
    );
    let mut bad_size = tar_header(b"x.txt", REGULAR, 0, b"");
    bad_size[124..136].copy_from_slice(b"0000000009z\0");
    set_tar_checksum(&mut bad_size);
    let body = Tar::default().raw(bad_size, b"").finish();
    assert!(matches!(
        extract(&body, ArchiveFormat::Tar, &caps()),
        Err(ArchiveError::Corrupt(_))
    ));
}

#[test]
fn tar_gz_checksum_is_verified_even_after_the_tar_ends() {
    let mut body = gzip(&project_tar());
    let crc_at = body.len() - 8;
    body[crc_at] ^= 0xFF;
    assert_eq!(
        extract(&body, ArchiveFormat::TarGz, &caps()),
        Err(ArchiveError::Corrupt("gzip CRC-32 mismatch"))
    );
    let mut body = gzip(&project_tar());
    body.extend_from_slice(b"trailing garbage");
    assert!(matches!(
        extract(&body, ArchiveFormat::TarGz, &caps()),
        Err(ArchiveError::Corrupt(_))
    ));
}

#[test]
fn truncated_archives_are_refused_not_half_read() {
    let tar = project_tar();
    // Mid-header and mid-data (the first file's data starts at 1024).
    for cut in [700, 1030] {
        assert_eq!(
            extract(&tar[..cut], ArchiveFormat::Tar, &caps()),
            Err(ArchiveError::Truncated)
        );
    }
    let compressed = gzip(&tar);
    assert_eq!(
        extract(
            &compressed[..compressed.len() / 2],
            ArchiveFormat::TarGz,
            &caps()
        ),
        Err(ArchiveError::Truncated)
    );
    let zip = zip(PROJECT);
    for cut in [zip.len() - 10, zip.len() / 2, 40] {
        assert!(
            extract(&zip[..cut], ArchiveFormat::Zip, &caps()).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn corrupt_zips_are_refused() {
    let mut bad_crc = ZipItem::honest("a.txt", b"content", true);
    bad_crc.crc ^= 1;
    assert_eq!(
        extract(
            &zip_with(&[bad_crc], &[], false),
            ArchiveFormat::Zip,
            &caps()
        ),
        Err(ArchiveError::Corrupt("zip CRC-32 mismatch"))
    );
    let mut short = ZipItem::honest("a.txt", b"content", true);
    short.declared_size += 1;
    assert!(matches!(
        extract(&zip_with(&[short], &[], false), ArchiveFormat::Zip, &caps()),
        Err(ArchiveError::Corrupt(_))
    ));
    // Central record pointing at another entry's local header (names disagree).
    let items = [ZipItem::honest("a.txt", b"aaa", true)];
    assert!(matches!(
        extract(
            &zip_with(&items, &[("b.txt", 0)], false),
            ArchiveFormat::Zip,
            &caps()
        ),
        Err(ArchiveError::Corrupt(_))
    ));
    let mut garbage = zip(PROJECT);
    let len = garbage.len();
    garbage[len - 6..len - 2].copy_from_slice(&u32::MAX.to_le_bytes()); // directory offset
    assert!(extract(&garbage, ArchiveFormat::Zip, &caps()).is_err());
}

// ---------------------------------------------------------------- bombs

#[test]
fn zip_bomb_entries_fail_without_inflating() {
    const GIB: u64 = 1 << 30;
    let bomb_stream = deflate_zeros_after(b"", GIB);
    assert!(bomb_stream.len() < 2 << 20, "{} bytes", bomb_stream.len());
    let bomb = |declared: u64| ZipItem {
        name: b"bomb.txt".to_vec(),
        method: 8,
        flags: 0,
        crc: 0,
        stored_bytes: bomb_stream.clone(),
        declared_size: declared,
        unix_mode: 0o100_644,
        zip64: false,
    };
    let started = Instant::now();
    // Honest size: over the per-file cap, skipped unread.
    let honest = zip_with(
        &[bomb(GIB), ZipItem::honest("ok.txt", b"ok", true)],
        &[],
        false,
    );
    let extracted = extract(&honest, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(extracted.skipped.too_large, 1);
    assert_eq!(paths(&extracted), ["ok.txt"]);
    // Lying size: inflation stops at the declared 1 000 bytes.
    let lying = zip_with(&[bomb(1000)], &[], false);
    assert_eq!(
        extract(&lying, ArchiveFormat::Zip, &caps()),
        Err(ArchiveError::Corrupt("zip entry longer than declared"))
    );
    // With the per-file cap raised, the ratio refuses it before inflating.
    let generous = Caps {
        max_file_bytes: 4 * GIB,
        ..caps()
    };
    assert_eq!(
        extract(&honest, ArchiveFormat::Zip, &generous),
        Err(ArchiveError::CompressionRatio { max: 200 })
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn zip_entries_sum_against_the_extracted_cap() {
    let megabyte_text = vec![b'x'; 1 << 20];
    let items: Vec<ZipItem> = (0..6)
        .map(|index| ZipItem::honest(&format!("f{index}.txt"), &megabyte_text, true))
        .collect();
    let body = zip_with(&items, &[], false);
    let tight = Caps {
        max_extracted_bytes: 4 << 20,
        ..caps()
    };
    assert_eq!(
        extract(&body, ArchiveFormat::Zip, &tight),
        Err(ArchiveError::ExtractedTooLarge { max: 4 << 20 })
    );
    assert_eq!(
        extract(&body, ArchiveFormat::Zip, &caps())
            .unwrap()
            .files
            .len(),
        6
    );
}

/// A tar.gz whose single entry is 1 GiB of zeros, about 1 MiB compressed.
fn tar_gz_bomb() -> Vec<u8> {
    const GIB: u64 = 1 << 30;
    let header = tar_header(b"zeros.bin", REGULAR, GIB, b"");
    let mut body = vec![0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3];
    body.extend(deflate_zeros_after(&header, GIB + 1024));
    // The trailer is never reached.
    body.extend_from_slice(&[0u8; 8]);
    body
}

#[test]
fn tar_gz_bomb_fails_after_about_a_cap_of_output() {
    let bomb = tar_gz_bomb();
    let started = Instant::now();
    // The ratio trips first, just past 1 MiB of output.
    assert_eq!(
        extract(&bomb, ArchiveFormat::TarGz, &caps()),
        Err(ArchiveError::CompressionRatio { max: 200 })
    );
    // Without the ratio, the extracted cap stops it; count what was inflated.
    let no_ratio = Caps {
        max_extracted_bytes: 8 << 20,
        max_compression_ratio: u64::MAX,
        ..caps()
    };
    assert_eq!(
        extract(&bomb, ArchiveFormat::TarGz, &no_ratio),
        Err(ArchiveError::ExtractedTooLarge { max: 8 << 20 })
    );
    let mut stream = gzip::GzipReader::new(&bomb, 8 << 20, u64::MAX);
    let mut sink = Vec::new();
    let outcome = tar::read_entries(&mut stream, &no_ratio, &mut sink);
    assert!(outcome.is_err());
    assert!(
        stream.total_output() <= (8 << 20) + (64 << 10),
        "{}",
        stream.total_output()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- paths

#[test]
fn unsafe_paths_refuse_the_whole_upload() {
    for bad in [
        "../escape.py",
        "a/../../escape.py",
        "/etc/passwd",
        "C:\\evil.py",
    ] {
        let body = Tar::default().file("ok.py", b"x").file(bad, b"y").finish();
        assert!(
            matches!(
                extract(&body, ArchiveFormat::Tar, &caps()),
                Err(ArchiveError::UnsafePath(_))
            ),
            "tar {bad}"
        );
        let body = zip(&[("ok.py", b"x"), (bad, b"y")]);
        assert!(
            matches!(
                extract(&body, ArchiveFormat::Zip, &caps()),
                Err(ArchiveError::UnsafePath(_))
            ),
            "zip {bad}"
        );
    }
    // Even a link's own name must be safe.
    let body = Tar::default().link("../link", SYMLINK, "x").finish();
    assert!(matches!(
        extract(&body, ArchiveFormat::Tar, &caps()),
        Err(ArchiveError::UnsafePath(_))
    ));
}

#[test]
fn links_are_counted_never_followed() {
    let mut tar = Tar::default();
    tar.file("real.py", b"x = 1\n")
        .link("passwd", SYMLINK, "/etc/passwd")
        .link("escape", SYMLINK, "../../outside")
        .link("hard.py", HARD_LINK, "real.py")
        .raw(tar_header(b"fifo", b'6', 0, b""), b"");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["real.py"]);
    assert_eq!(extracted.skipped.links, 4);

    let mut link = ZipItem::honest("link", b"/etc/passwd", false);
    link.unix_mode = 0o120_777;
    let body = zip_with(&[link, ZipItem::honest("real.py", b"x", true)], &[], false);
    let extracted = extract(&body, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["real.py"]);
    assert_eq!(extracted.skipped.links, 1);
}

#[test]
fn duplicate_paths_keep_the_later_entry() {
    let body = Tar::default()
        .file("a.py", b"first")
        .file("./a.py", b"second")
        .finish();
    let extracted = extract(&body, ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(extracted.files.len(), 1);
    assert_eq!(file(&extracted, "a.py"), b"second");
    let body = zip(&[("a.py", b"first"), ("a.py", b"second")]);
    assert_eq!(
        file(
            &extract(&body, ArchiveFormat::Zip, &caps()).unwrap(),
            "a.py"
        ),
        b"second"
    );
}

#[test]
fn encrypted_and_unknown_methods_are_unsupported() {
    let mut encrypted = ZipItem::honest("secret.py", b"x", false);
    encrypted.flags |= 1;
    let mut bzip2 = ZipItem::honest("b.py", b"x", false);
    bzip2.method = 12;
    let body = zip_with(
        &[encrypted, bzip2, ZipItem::honest("c.py", b"c", true)],
        &[],
        false,
    );
    let extracted = extract(&body, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["c.py"]);
    assert_eq!(extracted.skipped.unsupported, 2);
}

// ---------------------------------------------------------------- content

#[test]
fn binary_and_nested_archives_are_skipped() {
    let nested_zip = zip(&[("inner.py", b"x")]);
    let nested_tgz = gzip(&project_tar());
    let mut tar = Tar::default();
    tar.file("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
        .file("vendor/lib.zip", &nested_zip)
        .file("vendor/src.tar.gz", &nested_tgz)
        .file("app.jar", b"PK\x03\x04 looks like a zip")
        .file("code.py", b"ok = 1\n");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["code.py"]);
    assert_eq!(extracted.skipped.binary, 4);
}

#[test]
fn legacy_encodings_are_kept_as_uploaded_and_decode() {
    let latin1 = b"# caf\xe9\nname = 'Jos\xe9'\n";
    let utf16_le: Vec<u8> = b"\xFF\xFE"
        .iter()
        .copied()
        .chain("x = 'é'\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let utf16_be: Vec<u8> = b"\xFE\xFF"
        .iter()
        .copied()
        .chain("y = 2\n".encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let body = Tar::default()
        .file("latin1.py", latin1)
        .file("le.py", &utf16_le)
        .file("be.py", &utf16_be)
        .finish();
    let extracted = extract(&body, ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(extracted.skipped.binary, 0);
    assert_eq!(
        file(&extracted, "latin1.py"),
        latin1,
        "bytes are kept as uploaded"
    );
    assert_eq!(
        decode_text(file(&extracted, "latin1.py")),
        "# café\nname = 'José'\n"
    );
    assert_eq!(decode_text(file(&extracted, "le.py")), "x = 'é'\n");
    assert_eq!(decode_text(file(&extracted, "be.py")), "y = 2\n");
}

#[test]
fn a_10_mb_single_line_file_is_too_large() {
    // Pseudo-random identifiers, so it compresses like real minified code (not 1000:1).
    let mut seed: u32 = 1;
    let minified: Vec<u8> = (0..10 << 20)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            b"abcdefghijklmnopqrstuvwxyz_.(){};,=+"[(seed >> 16) as usize % 36]
        })
        .collect();
    let body = Tar::default()
        .file("app.min.js", &minified)
        .file("small.js", b"s")
        .finish();
    let extracted = extract(&body, ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["small.js"]);
    assert_eq!(extracted.skipped.too_large, 1);
    let extracted = extract(&gzip(&body), ArchiveFormat::TarGz, &caps()).unwrap();
    assert_eq!(extracted.skipped.too_large, 1);
    let body = zip(&[("app.min.js", &minified), ("small.js", b"s")]);
    let extracted = extract(&body, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(paths(&extracted), ["small.js"]);
    assert_eq!(extracted.skipped.too_large, 1);
}

#[test]
fn file_and_entry_counts_are_capped() {
    let body = Tar::default()
        .file("a", b"a")
        .file("b", b"b")
        .file("c", b"c")
        .finish();
    let two_files = Caps {
        max_files: 2,
        ..caps()
    };
    assert_eq!(
        extract(&body, ArchiveFormat::Tar, &two_files),
        Err(ArchiveError::TooManyFiles { max: 2 })
    );
    let two_entries = Caps {
        max_entries: 2,
        ..caps()
    };
    assert_eq!(
        extract(&body, ArchiveFormat::Tar, &two_entries),
        Err(ArchiveError::TooManyEntries { max: 2 })
    );
    let body = zip(&[("a", b"a"), ("b", b"b"), ("c", b"c")]);
    assert_eq!(
        extract(&body, ArchiveFormat::Zip, &two_entries),
        Err(ArchiveError::TooManyEntries { max: 2 })
    );
}

// ---------------------------------------------------------------- ignore rules

#[test]
fn built_in_and_gitignore_rules_apply_wherever_they_appear() {
    let mut tar = Tar::default();
    tar.file("proj/src/app.py", b"app")
        .file("proj/node_modules/left-pad/index.js", b"pad")
        .file("proj/web/node_modules/x.js", b"x")
        .file("proj/.git/config", b"[core]")
        .file("proj/pkg/__pycache__/m.cpython-311.pyc", b"\0pyc")
        .file("proj/target/debug/out", b"o")
        .file("proj/debug.log", b"log")
        .file("proj/keep.log", b"keep")
        .file("proj/sub/generated.py", b"gen")
        .file("proj/sub/hand.py", b"hand")
        .file("proj/build.py", b"a file named build.py is kept")
        // The rules come after the files they govern.
        .file("proj/.gitignore", b"*.log\n!keep.log\n")
        .file("proj/sub/.gitignore", b"generated.py\n");
    let extracted = extract(&tar.finish(), ArchiveFormat::Tar, &caps()).unwrap();
    assert_eq!(
        paths(&extracted),
        [
            ".gitignore",
            "build.py",
            "keep.log",
            "src/app.py",
            "sub/.gitignore",
            "sub/hand.py"
        ]
    );
    assert_eq!(extracted.skipped.ignored, 7);
    assert_eq!(
        extracted.skipped.binary, 0,
        "ignored files are not also counted as binary"
    );
}

#[test]
fn zip_ignores_are_decided_before_inflating() {
    let items = [
        ZipItem::honest(".gitignore", b"secret/\n", true),
        ZipItem::honest("secret/a.txt", b"never read", true),
        ZipItem::honest("node_modules/b.js", b"never read", true),
        ZipItem::honest("kept.txt", b"kept", true),
    ];
    let body = zip_with(&items, &[], false);
    let extracted = extract(&body, ArchiveFormat::Zip, &caps()).unwrap();
    assert_eq!(paths(&extracted), [".gitignore", "kept.txt"]);
    assert_eq!(extracted.skipped.ignored, 2);
}

#[test]
fn too_many_ignore_patterns_are_refused() {
    let rules: String = (0..50).map(|n| format!("pattern{n}\n")).collect();
    let body = Tar::default().file(".gitignore", rules.as_bytes()).finish();
    let few = Caps {
        max_ignore_patterns: 10,
        ..caps()
    };
    assert_eq!(
        extract(&body, ArchiveFormat::Tar, &few),
        Err(ArchiveError::TooManyIgnorePatterns { max: 10 })
    );
    assert!(extract(&body, ArchiveFormat::Tar, &caps()).is_ok());
}
