//! The data-structure library NFs use (`ds/nfcc_ds.h`): compiled into a module with the
//! NF's own code whenever one of its sources includes the header, so its loops are checked
//! by the isolation pass and analysed like any module code.

/// `nfcc_ds.h`.
pub const HEADER: &str = include_str!("../ds/nfcc_ds.h");
/// The header's file name, as NFs include it.
pub const HEADER_NAME: &str = "nfcc_ds.h";
/// The library's sources: (file name, text).
pub const SOURCES: &[(&str, &str)] = &[
    ("hash.c", include_str!("../ds/hash.c")),
    ("map.c", include_str!("../ds/map.c")),
    ("dmap.c", include_str!("../ds/dmap.c")),
    ("vector.c", include_str!("../ds/vector.c")),
    ("dchain.c", include_str!("../ds/dchain.c")),
    ("expire.c", include_str!("../ds/expire.c")),
    ("maglev.c", include_str!("../ds/maglev.c")),
    ("lpm.c", include_str!("../ds/lpm.c")),
    ("tbucket.c", include_str!("../ds/tbucket.c")),
];

#[cfg(test)]
mod tests {
    /// The library's own C unit tests (exact results, ASan and UBSan on), run by its script.
    #[test]
    fn c_unit_tests_pass() {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ds/tests/run.sh");
        let out = std::process::Command::new("bash").arg(&script).output().expect("bash runs");
        assert!(
            out.status.success(),
            "{} failed:\n{}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn every_source_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ds");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".c"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = super::SOURCES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
